/**
 * `mcp-pdp policy replay --candidate DIR`: what would a policy change have done to recorded
 * traffic? Reads decision records from the Redis audit stream (`--redis URL`) or an NDJSON export
 * (`--input FILE`, `audit export`), evaluates each policy decision again under the candidate set
 * and, as a control, under the version it was made with (from `--baseline DIR` sets and, with
 * Redis, the policy archive), and prints the flips grouped by the policies that caused them.
 * Exit status: 0, or 1 when flips exceed `--max-flips` (a CI gate); 2 usage error.
 */
import "../policy/v8-guard.js";
import { createReadStream } from "node:fs";
import { availableParallelism } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import { createInterface } from "node:readline";
import { RedisAuditKeys } from "../audit/redis-audit-keys.js";
import { RedisPolicyArchive } from "../audit/policy-archive.js";
import type { AuditFilter } from "../audit/types.js";
import { mergeReports, type ReplayReport } from "../decision/replay-tally.js";
import { PdpError } from "../errors.js";
import { digestPolicyDir } from "../policy/load-policy-set.js";
import { createRedisConnection, type RedisClient } from "../redis/connection.js";
import { DEFAULT_KEY_PREFIX } from "../redis/keys.js";
import { parseTime, type AuditFilterOptions } from "./audit.js";
import { CliFailure, type CliIo } from "./cli-io.js";
import { ReplayPart, type ReplayPartInit } from "./replay-part.js";
import type { ReplayWorkerAnswer } from "./replay-worker.js";
import { UsageError } from "./usage-error.js";

/** The options of `policy replay`. */
export interface PolicyReplayOptions extends AuditFilterOptions {
  readonly candidate: string;
  readonly input?: string | undefined;
  readonly redis?: string | undefined;
  readonly keyPrefix?: string | undefined;
  readonly stream?: string | undefined;
  readonly baseline?: readonly string[] | undefined;
  readonly from?: string | undefined;
  readonly to?: string | undefined;
  readonly json?: boolean | undefined;
  readonly maxFlips?: number | undefined;
  readonly samples?: number | undefined;
  /** Share (0…1) of the records the candidate cannot change that are still evaluated as the control. Default 1. */
  readonly controlSample?: number | undefined;
  /** Worker threads (each with its own engines); 1 replays in this thread. Default: the cores, at most 4. */
  readonly workers?: number | undefined;
  /** Progress on stderr every this many ms (0: none). Default 2000. */
  readonly progressMs?: number | undefined;
}

/** Records read per XRANGE. */
const BATCH = 2000;

function filterOf(v: PolicyReplayOptions): { filter: AuditFilter; since?: number; until?: number } {
  const sinceText = v.since ?? v.from;
  const untilText = v.until ?? v.to;
  const f: Record<string, unknown> = {
    sessionId: v.session,
    userSubject: v.user,
    userIssuer: v.issuer,
    agentId: v.agent,
    clientId: v.client,
    serverId: v.server,
    tool: v.tool,
    decision: v.decision === undefined ? undefined : v.decision.toUpperCase(),
    reasonCode: v.reason?.toUpperCase().replace(/^REASON_CODE_/, ""),
    policyId: v.policy,
    kind: v.kind,
    shadowDisagrees: v.shadowDisagrees || undefined,
    firstSeen: v.firstSeen || undefined,
  };
  for (const k of Object.keys(f)) if (f[k] === undefined) delete f[k];
  return {
    filter: f as AuditFilter,
    ...(sinceText !== undefined && { since: parseTime(sinceText).getTime() }),
    ...(untilText !== undefined && { until: parseTime(untilText).getTime() }),
  };
}

/** Records of an NDJSON file (`audit export`, `audit query --json`) as JSON lines, in file order. */
async function* ndjsonLines(file: string): AsyncGenerator<string[]> {
  const lines = createInterface({ input: file === "-" ? process.stdin : createReadStream(file), crlfDelay: Infinity });
  let batch: string[] = [];
  for await (const line of lines) {
    if (line.trim() === "") continue;
    batch.push(line);
    if (batch.length >= BATCH) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}

/** Records of the Redis audit stream between two times, oldest first, as JSON lines. */
async function* streamLines(client: RedisClient, stream: string, since: number | undefined, until: number | undefined): AsyncGenerator<string[]> {
  let start = since === undefined ? "-" : String(since);
  const end = until === undefined ? "+" : String(until);
  for (;;) {
    const entries = (await client.xrange(stream, start, end, "COUNT", BATCH)) as [string, string[]][];
    if (entries.length === 0) return;
    const batch: string[] = [];
    for (const [, fields] of entries) {
      const i = fields.indexOf("r");
      if (i >= 0) batch.push(fields[i + 1]!);
    }
    yield batch;
    if (entries.length < BATCH) return;
    start = `(${entries[entries.length - 1]![0]}`;
  }
}

const VERSION_FIELD = '"policyVersion":"';

/** The policy version a record line names (canonical or plain JSON), or undefined. */
function versionOf(line: string): string | undefined {
  const at = line.indexOf(VERSION_FIELD);
  if (at < 0) return undefined;
  const from = at + VERSION_FIELD.length;
  const to = line.indexOf('"', from);
  return to < 0 ? undefined : line.slice(from, to);
}

type Files = readonly { readonly path: string; readonly text: string }[] | undefined;

/** A share of the replay: in this thread, or in a worker thread. */
interface PartHandle {
  /** An archived version's files; `refused` is told (once per part) when they do not load. */
  version(version: string, files: Files, refused: (version: string, message: string) => void): void;
  /** Resolves once the part can take another batch. Rejects with CliFailure when the part refused the candidate or a baseline. */
  batch(lines: string[]): Promise<void>;
  progress(): { read: number; flips: number };
  finish(): Promise<ReplayReport>;
  terminate(): void;
}

function localPart(init: ReplayPartInit): PartHandle {
  let part: ReplayPart;
  try {
    part = new ReplayPart(init);
  } catch (err) {
    throw new CliFailure(PdpError.from(err, "POLICY_INVALID").message, 1);
  }
  return {
    version: (v, f, refused) => {
      const why = part.version(v, f);
      if (why !== undefined) refused(v, why);
    },
    batch: async (lines) => part.batch(lines),
    progress: () => part.progress(),
    finish: async () => part.report(),
    terminate: () => {},
  };
}

/** The worker script beside this module (compiled `.js`, or `.ts` under tsx). */
const WORKER_URL = new URL(`./replay-worker${path.extname(fileURLToPath(import.meta.url))}`, import.meta.url);

/** A worker part. Not waited for: messages queue while it loads its versions, and its first batch waits for it. */
function workerPart(init: ReplayPartInit): PartHandle {
  const worker = new Worker(WORKER_URL, { workerData: init });
  let failure: Error | undefined;
  let progress = { read: 0, flips: 0 };
  const pending: { resolve: () => void; reject: (e: Error) => void }[] = [];
  const inFlight: Promise<void>[] = [];
  let reported: { resolve: (r: ReplayReport) => void; reject: (e: Error) => void } | undefined;
  let refusedVersion: (version: string, message: string) => void = () => {};
  let ready!: () => void;
  let notReady!: (e: Error) => void;
  const started = new Promise<void>((res, rej) => ((ready = res), (notReady = rej)));
  started.catch(() => {}); // awaited by the first batch
  const fail = (err: Error) => {
    failure ??= err;
    notReady(err);
    for (const p of pending.splice(0)) p.reject(err);
    reported?.reject(err);
  };
  worker.on("message", (m: ReplayWorkerAnswer) => {
    if (m.type === "ready") ready();
    else if (m.type === "refused") fail(new CliFailure(m.message, 1));
    else if (m.type === "version-refused") refusedVersion(m.version, m.message);
    else if (m.type === "done") {
      progress = { read: m.read, flips: m.flips };
      pending.shift()?.resolve();
    } else reported?.resolve(m.report);
  });
  worker.on("error", fail);
  worker.on("exit", (code) => {
    if (code !== 0) fail(new Error(`replay worker exited with ${code}`));
    else if (!reported) fail(failure ?? new Error("replay worker ended early"));
  });
  return {
    version: (version, files, refused) => {
      refusedVersion = refused;
      worker.postMessage({ type: "version", version, files });
    },
    async batch(lines) {
      await started;
      if (failure) throw failure;
      const done = new Promise<void>((resolve, reject) => pending.push({ resolve, reject }));
      done.catch(() => {}); // awaited below or at finish; a failure also rejects finish
      worker.postMessage({ type: "batch", lines });
      // Two batches in flight per worker: one being replayed, one waiting.
      inFlight.push(done);
      if (inFlight.length >= 2) await inFlight.shift();
    },
    progress: () => progress,
    async finish() {
      await started;
      return new Promise<ReplayReport>((resolve, reject) => {
        if (failure) return reject(failure);
        reported = { resolve, reject };
        worker.postMessage({ type: "end" });
      });
    },
    terminate: () => void worker.terminate(),
  };
}

/** `policy replay`. */
export async function policyReplay(v: PolicyReplayOptions, io: CliIo): Promise<number> {
  if ((v.input === undefined) === (v.redis === undefined)) throw new UsageError("give exactly one of --input FILE (NDJSON from `audit export`) or --redis URL");
  const { filter, since, until } = filterOf(v);
  // Each part loads (and checks) the candidate and baselines itself, in parallel; a refusal comes back with its diagnostics.
  const known = new Set<string>();
  for (const dir of [v.candidate, ...(v.baseline ?? [])]) {
    const digest = digestPolicyDir(dir);
    if (digest !== undefined) known.add(digest.slice(0, 16));
  }
  const client =
    v.redis === undefined ? undefined : createRedisConnection({ url: v.redis, commandTimeoutMs: 30_000, connectionName: "mcp-pdp-replay", autoPipelining: false, lazyConnect: true });
  if (client) {
    try {
      await client.connect();
    } catch (err) {
      client.disconnect();
      throw new CliFailure(`cannot connect to Redis: ${(err as Error).message}`, 1);
    }
  }
  const prefix = v.keyPrefix ?? DEFAULT_KEY_PREFIX;
  const archive = client && new RedisPolicyArchive({ client, keyPrefix: prefix });
  const init: ReplayPartInit = {
    candidate: v.candidate,
    baselines: [...(v.baseline ?? [])],
    filter,
    ...(!client && since !== undefined && { since }),
    ...(!client && until !== undefined && { until }),
    ...(v.samples !== undefined && { samples: v.samples }),
    ...(v.controlSample !== undefined && { controlSample: v.controlSample }),
  };
  const workers = v.workers ?? Math.min(4, availableParallelism());
  const started = performance.now();
  const cpu0 = process.cpuUsage();
  const progressMs = v.progressMs ?? 2000;
  let lastProgress = started;
  const parts: PartHandle[] = [];
  try {
    if (workers <= 1) parts.push(localPart(init));
    else parts.push(...Array.from({ length: workers }, () => workerPart(init)));
    const refusedVersions = new Set<string>();
    const refusedOnce = (version: string, message: string) => {
      if (refusedVersions.has(version)) return;
      refusedVersions.add(version);
      io.err(`archived version ${version} does not load; its records get no control: ${message}\n`);
    };
    const source = client ? streamLines(client, new RedisAuditKeys(prefix, v.stream ?? "decisions").stream, since, until) : ndjsonLines(v.input!);
    let next = 0;
    for await (const batch of source) {
      for (const line of batch) {
        const version = versionOf(line);
        if (version === undefined || known.has(version)) continue;
        known.add(version);
        const files = archive ? await archive.get(version).catch(() => undefined) : undefined;
        for (const p of parts) p.version(version, files, refusedOnce);
      }
      await parts[next++ % parts.length]!.batch(batch);
      const now = performance.now();
      if (progressMs > 0 && now - lastProgress >= progressMs) {
        lastProgress = now;
        const read = parts.reduce((n, p) => n + p.progress().read, 0);
        const flips = parts.reduce((n, p) => n + p.progress().flips, 0);
        io.err(`… ${read} record(s) replayed, ${flips} flip(s), ${Math.round(read / ((now - started) / 1000))}/s\n`);
      }
    }
    const report = mergeReports(await Promise.all(parts.map((p) => p.finish())), v.samples);
    const seconds = (performance.now() - started) / 1000;
    const cpu = process.cpuUsage(cpu0);
    const cpuSeconds = Math.round((cpu.user + cpu.system) / 1000) / 1000;
    io.out(v.json ? `${JSON.stringify({ ...report, candidate: v.candidate, seconds: Math.round(seconds * 1000) / 1000, cpuSeconds, workers: parts.length })}\n` : formatReport(report, v.candidate, seconds));
    const flips = report.flips.allowToDeny + report.flips.denyToAllow;
    if (v.maxFlips !== undefined && flips > v.maxFlips) {
      io.err(`${flips} flip(s) exceed --max-flips ${v.maxFlips}\n`);
      return 1;
    }
    return 0;
  } finally {
    for (const p of parts) p.terminate();
    client?.disconnect();
  }
}

/** The report as text. */
export function formatReport(r: ReplayReport, candidateDir: string, seconds: number): string {
  const lines: string[] = [];
  const rate = seconds > 0 ? ` in ${seconds.toFixed(1)} s (${Math.round(r.read / seconds)}/s)` : "";
  lines.push(`candidate ${candidateDir} (version ${r.candidateVersion}): ${r.read} record(s) read${rate}`);
  lines.push(`  ${r.replayed} policy decision(s) replayed, ${r.notPolicy} not decided by policy${r.unchanged ? `, ${r.unchanged} not evaluated (the candidate cannot change them; outside --control-sample)` : ""}`);
  const skipped = Object.entries(r.notReplayable);
  if (skipped.length > 0) {
    lines.push(`  ${skipped.reduce((n, [, c]) => n + c, 0)} not replayable:`);
    for (const [why, n] of skipped) lines.push(`    ${String(n).padStart(7)}  ${why}`);
  }
  const c = r.control;
  lines.push(
    `control: ${c.checked} under their own version, ${c.reproduced} reproduced, ${c.drift} DRIFT` +
      (c.unavailable > 0 ? `; ${c.unavailable} of versions not available (${c.unavailableVersions.join(", ")}) — pass --baseline DIR or use --redis for the archive` : ""),
  );
  for (const d of c.driftSamples) lines.push(`  drift ${d.decisionId} (version ${d.version}): recorded ${d.recorded}, replayed ${d.replayed}`);
  lines.push(`flips: ${r.flips.allowToDeny} ALLOW→DENY, ${r.flips.denyToAllow} DENY→ALLOW; ${r.reasonChanged} same decision with another reason`);
  for (const g of r.flips.groups)
    lines.push(
      `  ${g.from}→${g.to}  ${String(g.count).padStart(7)}  ${g.reasonCode}${g.policies.length ? ` by ${g.policies.join(", ")}` : ""}  e.g. ${g.samples.join(", ")}`,
    );
  return `${lines.join("\n")}\n`;
}
