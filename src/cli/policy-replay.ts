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
import { createInterface } from "node:readline";
import { RedisAuditKeys } from "../audit/redis-audit-keys.js";
import { RedisPolicyArchive } from "../audit/policy-archive.js";
import type { ChainedRecord, DecisionRecord } from "../audit/decision-record.js";
import { matchesFilter } from "../audit/query-filter.js";
import type { AuditFilter } from "../audit/types.js";
import { ReplayTally, type ReplayReport } from "../decision/replay-tally.js";
import { PdpError } from "../errors.js";
import { replayVersionOfDir, replayVersionOfFiles, type ReplayVersion } from "../policy/replay-engine.js";
import type { PolicyEngine } from "../policy/types.js";
import { createRedisConnection, type RedisClient } from "../redis/connection.js";
import { DEFAULT_KEY_PREFIX } from "../redis/keys.js";
import { parseTime } from "./audit.js";
import { CliFailure, type CliIo } from "./cli-io.js";
import { UsageError } from "./usage-error.js";

/** The options of `policy replay`. */
export interface PolicyReplayOptions {
  readonly candidate: string;
  readonly input?: string | undefined;
  readonly redis?: string | undefined;
  readonly keyPrefix?: string | undefined;
  readonly stream?: string | undefined;
  readonly baseline?: readonly string[] | undefined;
  readonly since?: string | undefined;
  readonly from?: string | undefined;
  readonly until?: string | undefined;
  readonly to?: string | undefined;
  readonly session?: string | undefined;
  readonly user?: string | undefined;
  readonly issuer?: string | undefined;
  readonly agent?: string | undefined;
  readonly client?: string | undefined;
  readonly server?: string | undefined;
  readonly tool?: string | undefined;
  readonly decision?: "allow" | "deny" | undefined;
  readonly reason?: string | undefined;
  readonly policy?: string | undefined;
  readonly kind?: string | undefined;
  readonly shadowDisagrees?: boolean | undefined;
  readonly json?: boolean | undefined;
  readonly maxFlips?: number | undefined;
  readonly samples?: number | undefined;
  /** Share (0…1) of the records the candidate cannot change that are still evaluated as the control. Default 1. */
  readonly controlSample?: number | undefined;
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
  };
  for (const k of Object.keys(f)) if (f[k] === undefined) delete f[k];
  return {
    filter: f as AuditFilter,
    ...(sinceText !== undefined && { since: parseTime(sinceText).getTime() }),
    ...(untilText !== undefined && { until: parseTime(untilText).getTime() }),
  };
}

/** Records of an NDJSON file (`audit export`, `audit query --json`), in file order. */
async function* ndjsonRecords(file: string): AsyncGenerator<DecisionRecord[]> {
  const lines = createInterface({ input: file === "-" ? process.stdin : createReadStream(file), crlfDelay: Infinity });
  let batch: DecisionRecord[] = [];
  let n = 0;
  for await (const line of lines) {
    n++;
    if (line.trim() === "") continue;
    try {
      batch.push(JSON.parse(line) as DecisionRecord);
    } catch {
      throw new CliFailure(`${file}:${n}: not a JSON record`, 2);
    }
    if (batch.length >= BATCH) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}

/** Records of the Redis audit stream between two times, oldest first. */
async function* streamRecords(client: RedisClient, stream: string, since: number | undefined, until: number | undefined): AsyncGenerator<DecisionRecord[]> {
  let start = since === undefined ? "-" : String(since);
  const end = until === undefined ? "+" : String(until);
  for (;;) {
    const entries = (await client.xrange(stream, start, end, "COUNT", BATCH)) as [string, string[]][];
    if (entries.length === 0) return;
    const batch: DecisionRecord[] = [];
    for (const [, fields] of entries) {
      const i = fields.indexOf("r");
      if (i >= 0) batch.push(JSON.parse(fields[i + 1]!) as DecisionRecord);
    }
    yield batch;
    if (entries.length < BATCH) return;
    start = `(${entries[entries.length - 1]![0]}`;
  }
}

/** `policy replay`. */
export async function policyReplay(v: PolicyReplayOptions, io: CliIo): Promise<number> {
  if ((v.input === undefined) === (v.redis === undefined)) throw new UsageError("give exactly one of --input FILE (NDJSON from `audit export`) or --redis URL");
  const { filter, since, until } = filterOf(v);
  let candidate: ReplayVersion;
  try {
    candidate = replayVersionOfDir(v.candidate);
  } catch (err) {
    throw new CliFailure(`candidate ${v.candidate} is refused:\n${PdpError.from(err, "POLICY_INVALID").message}`, 1);
  }
  // Control versions: the baselines given, then the archive (Redis), built once each.
  const versions = new Map<string, PolicyEngine | undefined>([[candidate.loaded.version, candidate.engine]]);
  for (const dir of v.baseline ?? []) {
    try {
      const b = replayVersionOfDir(dir);
      versions.set(b.loaded.version, b.engine);
    } catch (err) {
      throw new CliFailure(`baseline ${dir} is refused:\n${PdpError.from(err, "POLICY_INVALID").message}`, 1);
    }
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
  const tally = new ReplayTally(
    { candidate: candidate.engine, control: (version) => versions.get(version) },
    { ...(v.samples !== undefined && { samples: v.samples }), ...(v.controlSample !== undefined && { controlSample: v.controlSample }) },
  );
  const started = performance.now();
  const cpu0 = process.cpuUsage();
  const progressMs = v.progressMs ?? 2000;
  let lastProgress = started;
  try {
    const source = client ? streamRecords(client, new RedisAuditKeys(prefix, v.stream ?? "decisions").stream, since, until) : ndjsonRecords(v.input!);
    for await (const batch of source) {
      for (const r of batch) {
        if (!versions.has(r.policyVersion) && archive) versions.set(r.policyVersion, await archived(archive, r.policyVersion, io));
        else if (!versions.has(r.policyVersion)) versions.set(r.policyVersion, undefined);
        if (!client) {
          const t = Date.parse(r.time);
          if ((since !== undefined && t < since) || (until !== undefined && t > until)) continue;
        }
        if (!matchesFilter(r as ChainedRecord, filter)) continue;
        tally.add(r);
      }
      const now = performance.now();
      if (progressMs > 0 && now - lastProgress >= progressMs) {
        lastProgress = now;
        io.err(`… ${tally.read} record(s) replayed, ${tally.flips} flip(s), ${Math.round(tally.read / ((now - started) / 1000))}/s\n`);
      }
    }
  } finally {
    client?.disconnect();
  }
  const report = tally.report();
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const cpuSeconds = Math.round((cpu.user + cpu.system) / 1000) / 1000;
  io.out(v.json ? `${JSON.stringify({ ...report, candidate: v.candidate, seconds: Math.round(seconds * 1000) / 1000, cpuSeconds })}\n` : formatReport(report, v.candidate, seconds));
  const flips = report.flips.allowToDeny + report.flips.denyToAllow;
  if (v.maxFlips !== undefined && flips > v.maxFlips) {
    io.err(`${flips} flip(s) exceed --max-flips ${v.maxFlips}\n`);
    return 1;
  }
  return 0;
}

/** An archived version's engine, or undefined (said on stderr) when the archive does not hold it or it does not load. */
async function archived(archive: RedisPolicyArchive, version: string, io: CliIo): Promise<PolicyEngine | undefined> {
  const files = await archive.get(version).catch(() => undefined);
  if (!files) return undefined;
  try {
    return replayVersionOfFiles(version, files).engine;
  } catch (err) {
    io.err(`archived version ${version} does not load; its records get no control: ${PdpError.from(err).message}\n`);
    return undefined;
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
