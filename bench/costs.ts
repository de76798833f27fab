/**
 * What a feature costs, measured side by side (issues 13 and 15): several PDPs of this tree and
 * several ways of asking them, driven in one run in interleaved rounds (bench/lib/rounds.ts), so
 * that load from other processes falls on every lane alike. Each set compares lanes with a
 * baseline lane and prints the ratios of Authorize p50 and PDP CPU per decision.
 *
 *   npm run bench -- --costs [authzen,telemetry,args,novelty,shadow] [--rounds 3] [--duration S] [--warmup S]
 *                   [--concurrency 1,16] [--store redis|memory] [--policies 200] [--connections 4] [--json FILE]
 *   npm run bench -- --metrics-compare [same options]      (= --costs telemetry)
 *
 * Sets (default: all four; each adds its lanes to the one run):
 * - `authzen`: one PDP (default config), asked over gRPC Authorize and over the AuthZEN evaluation
 *   endpoint (HTTP/1.1 keep-alive, JSON), the same task. Baseline: `grpc`.
 * - `telemetry`: the default PDP (metrics on, tracing off), one with `metrics.enabled: false`, and
 *   one with `tracing.otlpEndpoint` set to a dummy OTLP receiver in this process (answers 200 to
 *   every POST, reads and drops the body). Baseline: `grpc` (metrics on, tracing off).
 * - `args`: the workspace server of the shipped `cedar/` (tool definitions in cedar/definitions/),
 *   as the office assistant for `office` work. `typed args + rules` calls `send_payment` with 4
 *   arguments checked against its inputSchema and read by the payment rules (cap, approval
 *   threshold; its record keeps amount and currency); `typed args` calls `pay` with the same 4 —
 *   a bench-only tool with send_payment's inputSchema that no rule reads; `no args` calls `ping`
 *   with none — a bench-only tool without a definition — and `untyped args` calls `ping` with
 *   the same 4 arguments (carried, not typed). The bench tools exist only in this bench's policy
 *   copy (workspace-tools set, risk 1, no labels). Baseline: `no args`. All on the default PDP.
 * - `shadow` (issue 16): the default PDP; `shadow twice`: `policies.shadowDir` holds the same set plus
 *   one unscoped forbid that never applies — it is in every request's partition, so every decision
 *   needs the shadow set's own answer (the worst case, one call over both sets' union; all agree); `shadow local`: the same set plus a
 *   forbid of a tool nobody calls — the requests' partitions are unchanged, so their shadow answer is
 *   known without a second evaluation (the usual case: a change touches few partitions);
 *   `shadow off`: `policies.shadowDir` set to an empty directory (configured, off).
 *   Baseline: `grpc`. Only with `--costs shadow` (not in the default sets).
 * - `novelty` (issue 17): the default PDP (novelty on: each OpenSession observes its relations in
 *   the store, each call in the session gets `context.novelty` and records `firstSeen`) and one
 *   with `novelty.enabled: false`, the same gRPC task (sessions reopened every few calls, so the
 *   opening's extra store call is in the CPU per decision). Baseline: `novelty off`.
 * Every lane opens one session per lane index first (its relations are then known: no first-seen
 * approvals), then must answer ALLOW before it is measured (a 300 ms check).
 * Redis: REDIS_URL (default redis://127.0.0.1:6379), keys under `bench:<random>:<pdp>:`, deleted at the end.
 */
import { createServer, type Server } from "node:http";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type { AddressInfo } from "node:net";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { randomBytes } from "node:crypto";
import type { JsonObject } from "@bufbuild/protobuf";
import { packageRoot } from "../src/config/load-config.js";
import { mintDevToken } from "../src/identity/dev-issuer.js";
import { Action, Decision, ReasonCode } from "../src/gen/mcppdp/v1/common_pb.js";
import { authzenTarget } from "./lib/authzen-target.js";
import { connect, laneTokens, pdpTarget, requireAllow, type Connections, type Target } from "./lib/driver.js";
import { mergeConfig, pdpConfig, startPdpProcess, type PdpProcess } from "./lib/pdp-server.js";
import { policyCopy } from "./lib/policy-dirs.js";
import { deleteKeys } from "./lib/redis-keys.js";
import { runRounds, spread, table, type Lane, type LaneResult } from "./lib/rounds.js";
import { ms } from "./lib/stats.js";

const { values: opt } = parseArgs({
  options: {
    costs: { type: "string" },
    "metrics-compare": { type: "boolean", default: false },
    rounds: { type: "string", default: "3" },
    duration: { type: "string", default: "4" },
    warmup: { type: "string", default: "1" },
    concurrency: { type: "string", default: "1,16" },
    store: { type: "string", default: "redis" },
    policies: { type: "string", default: "200" },
    connections: { type: "string", default: "4" },
    json: { type: "string" },
  },
  // `--costs` alone (no value) means every set.
  args: process.argv.slice(2).map((a, i, all) => (a === "--costs" && (i === all.length - 1 || all[i + 1]!.startsWith("--")) ? "--costs=authzen,telemetry,args,novelty" : a)),
});

type SetName = "authzen" | "telemetry" | "args" | "novelty" | "shadow";
const SETS = new Set<SetName>((opt["metrics-compare"] ? "telemetry" : (opt.costs ?? "authzen,telemetry,args,novelty")).split(",").map((s) => s.trim() as SetName));
for (const s of SETS) if (!["authzen", "telemetry", "args", "novelty", "shadow"].includes(s)) throw new Error(`--costs: authzen, telemetry, args, novelty and/or shadow, not ${s}`);
const STORE = opt.store as "redis" | "memory";
if (STORE !== "redis" && STORE !== "memory") throw new Error(`--store: redis or memory, not ${opt.store}`);
const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const RUN = randomBytes(6).toString("hex");
const LEVELS = opt.concurrency.split(",").map(Number);
const started = Date.now();
const progress = (msg: string) => process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${msg}\n`);
const loadavg = () => os.loadavg().map((x) => x.toFixed(2)).join(" ");

const WORKSPACE = "https://workspace.example.com/mcp";
const OFFICE_AGENT = "spiffe://dev.mcp-pdp.local/agent/office-assistant";
/** The typed call: 4 arguments that send_payment's inputSchema accepts and its rules allow (≤ 500.00 EUR needs no approval). */
const PAYMENT: JsonObject = { amount: 120.5, currency: "EUR", payee: "ACME GmbH", reference: "INV-2026-0042" };

/**
 * Adds two bench-only tools to the workspace-tools set of a policy copy: `ping`, without a
 * definition, and `pay`, whose definition is send_payment's inputSchema but which no rule reads
 * (same risk and labels as `ping`, read-only annotations) — typing and schema checking alone.
 */
function addBenchTools(cedarDir: string): void {
  const file = path.join(cedarDir, "entities", "tools.json");
  const entities = JSON.parse(readFileSync(file, "utf8")) as unknown[];
  for (const name of ["ping", "pay"])
    entities.push({
      uid: { type: "Tool", id: `${WORKSPACE}#${name}` },
      attrs: { name, server: { __entity: { type: "Server", id: WORKSPACE } }, risk: 1, labels: [], impact: "read" },
      parents: [{ type: "ToolSet", id: "workspace-tools" }],
    });
  writeFileSync(file, JSON.stringify(entities, null, 1));
  const defs = path.join(cedarDir, "definitions", "workspace.json");
  const d = JSON.parse(readFileSync(defs, "utf8")) as { tools: { name: string; annotations?: unknown }[] };
  // Without send_payment's annotations: destructiveHint would bring the approval rule for destructive tools in.
  d.tools.push({ ...d.tools.find((t) => t.name === "send_payment")!, name: "pay", annotations: { readOnlyHint: true, openWorldHint: false } });
  writeFileSync(defs, JSON.stringify(d, null, 1));
}

/** The office assistant's task on the workspace server over gRPC: sessions for `tools`, each call `tool(args)`. */
async function workspaceTarget(conns: Connections, lanes: number, tool: string, args: JsonObject): Promise<Target> {
  const tokens = await Promise.all(
    Array.from({ length: lanes }, async (_, i) => ({
      userToken: await mintDevToken("user", { audience: WORKSPACE, subject: `bench-office-${i}`, ttlSeconds: 3600 }),
      workloadToken: await mintDevToken("workload", { subject: OFFICE_AGENT, ttlSeconds: 3600 }),
    })),
  );
  const ids = (i: number) => ({ ...tokens[i % tokens.length]!, clientId: "dev-client", serverId: WORKSPACE, purpose: "office" });
  return {
    async open(i) {
      const s = await conns.sessions[i % conns.sessions.length]!.openSession({ ...ids(i), tools: ["send_payment", "pay", "ping"], ttl: { seconds: 120n, nanos: 0 } }, { timeoutMs: 10_000 });
      return s.decision === Decision.ALLOW ? { allow: true, session: s.sessionId } : { allow: false, reason: ReasonCode[s.reasonCode] ?? String(s.reasonCode) };
    },
    async call(i, session) {
      const r = await conns.authz[i % conns.authz.length]!.authorize({ ...ids(i), sessionId: session as string, action: Action.CALL_TOOL, tool, arguments: args }, { timeoutMs: 10_000 });
      return r.decision === Decision.ALLOW ? { allow: true } : { allow: false, reason: ReasonCode[r.reasonCode] ?? String(r.reasonCode) };
    },
  };
}

/** A dummy OTLP/HTTP receiver: reads each POST and answers 200. */
async function otlpReceiver(): Promise<{ url: string; posts: () => number; bytes: () => number; close(): Promise<void> }> {
  let posts = 0;
  let bytes = 0;
  const server: Server = createServer((req, res) => {
    req.on("data", (c: Buffer) => void (bytes += c.length));
    req.on("end", () => {
      posts++;
      res.writeHead(200, { "content-type": "application/x-protobuf" }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`,
    posts: () => posts,
    bytes: () => bytes,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** Which lane each lane is compared with. */
const BASELINE: Record<string, string> = {
  authzen: "grpc",
  "metrics off": "grpc",
  "tracing on": "grpc",
  "typed args": "no args",
  "typed args + rules": "no args",
  "untyped args": "no args",
  "shadow twice": "grpc",
  "shadow local": "grpc",
  "shadow off": "grpc",
  "novelty on": "novelty off",
};

async function main(): Promise<void> {
  const load0 = loadavg();
  progress(`sets ${[...SETS].join(", ")}; ${os.availableParallelism()} cores; load ${load0}`);
  const temps: string[] = [];
  const stops: (() => Promise<unknown>)[] = [];
  const closers: (() => void)[] = [];
  const prefixes: string[] = [];
  let receiver: Awaited<ReturnType<typeof otlpReceiver>> | undefined;
  let results: LaneResult[] = [];
  try {
    const { dir, total } = policyCopy(path.join(packageRoot, "cedar"), Number(opt.policies), temps);
    addBenchTools(dir);
    const work = mkdtempSync(path.join(os.tmpdir(), "mcp-pdp-costs-"));
    temps.push(work);
    const maxLanes = Math.max(...LEVELS);
    const tokens = await laneTokens(maxLanes);
    if (SETS.has("telemetry")) receiver = await otlpReceiver();

    /** Starts one PDP of this tree with `patch` over the bench config. */
    const start = async (name: string, patch: Record<string, unknown>): Promise<{ pdp: PdpProcess; conns: Connections }> => {
      const keyPrefix = `bench:${RUN}:${name.replace(/\W+/g, "-")}:`;
      if (STORE === "redis") prefixes.push(keyPrefix);
      const config = mergeConfig(pdpConfig({ cedarDir: dir, store: STORE, redisUrl: REDIS_URL, keyPrefix }), patch);
      progress(`starting the PDP "${name}" (${total} policies, ${STORE}) ${JSON.stringify(patch)}`);
      const pdp = await startPdpProcess(config, path.join(work, `${name.replace(/\W+/g, "-")}.json`));
      stops.push(() => pdp.stop());
      const conns = connect(`127.0.0.1:${pdp.port}`, Number(opt.connections));
      closers.push(() => conns.close());
      return { pdp, conns };
    };

    const base = await start("default", {});
    // The gRPC lane on the default PDP: the baseline of the authzen and telemetry sets.
    const lanes: Lane[] = SETS.has("authzen") || SETS.has("telemetry") || SETS.has("shadow") ? [{ name: "grpc", target: pdpTarget(base.conns, tokens), pid: base.pdp.child.pid! }] : [];
    if (SETS.has("authzen")) {
      if (!base.pdp.httpPort) throw new Error("the PDP announced no HTTP port (AuthZEN)");
      const az = authzenTarget(`http://127.0.0.1:${base.pdp.httpPort}`, tokens, Number(opt.connections));
      closers.push(() => az.close());
      lanes.push({ name: "authzen", target: az, pid: base.pdp.child.pid! });
    }
    if (SETS.has("telemetry")) {
      const off = await start("metrics off", { metrics: { enabled: false } });
      lanes.push({ name: "metrics off", target: pdpTarget(off.conns, tokens), pid: off.pdp.child.pid! });
      const traced = await start("tracing on", { tracing: { otlpEndpoint: receiver!.url } });
      lanes.push({ name: "tracing on", target: pdpTarget(traced.conns, tokens), pid: traced.pdp.child.pid! });
    }
    if (SETS.has("shadow")) {
      const candidate = (name: string, policy: string): string => {
        const d = mkdtempSync(path.join(os.tmpdir(), `mcp-pdp-shadow-${name}-`));
        temps.push(d);
        cpSync(dir, d, { recursive: true });
        writeFileSync(path.join(d, "policies", "zz-shadow-candidate.cedar"), `@id("shadow-candidate")\n@reason("a forbid that never applies")\n${policy}\n`);
        return d;
      };
      const twice = await start("shadow twice", { policies: { shadowDir: candidate("twice", 'forbid (principal, action, resource) when { context.purpose == "never-used-purpose" };') } });
      lanes.push({ name: "shadow twice", target: pdpTarget(twice.conns, tokens), pid: twice.pdp.child.pid! });
      const local = await start("shadow local", {
        policies: { shadowDir: candidate("local", 'forbid (principal, action == Action::"call_tool", resource == Tool::"https://docs.example.com/mcp#read_personnel_file");') },
      });
      lanes.push({ name: "shadow local", target: pdpTarget(local.conns, tokens), pid: local.pdp.child.pid! });
      const empty = mkdtempSync(path.join(os.tmpdir(), "mcp-pdp-shadow-off-"));
      temps.push(empty);
      const off = await start("shadow off", { policies: { shadowDir: empty } });
      lanes.push({ name: "shadow off", target: pdpTarget(off.conns, tokens), pid: off.pdp.child.pid! });
    }
    if (SETS.has("novelty")) {
      const off = await start("novelty off", { novelty: { enabled: false } });
      lanes.push({ name: "novelty off", target: pdpTarget(off.conns, tokens), pid: off.pdp.child.pid! });
      lanes.push({ name: "novelty on", target: pdpTarget(base.conns, tokens), pid: base.pdp.child.pid! });
    }
    if (SETS.has("args")) {
      lanes.push({ name: "no args", target: await workspaceTarget(base.conns, maxLanes, "ping", {}), pid: base.pdp.child.pid! });
      lanes.push({ name: "typed args", target: await workspaceTarget(base.conns, maxLanes, "pay", PAYMENT), pid: base.pdp.child.pid! });
      lanes.push({ name: "typed args + rules", target: await workspaceTarget(base.conns, maxLanes, "send_payment", PAYMENT), pid: base.pdp.child.pid! });
      lanes.push({ name: "untyped args", target: await workspaceTarget(base.conns, maxLanes, "ping", PAYMENT), pid: base.pdp.child.pid! });
    }
    // One opening per lane and lane index first: it marks the lane's relations seen (novelty), so a
    // first-seen client's high-risk call (shipped trust-expansion.cedar: approval) never meets the
    // ALLOW check, and every lane is measured in the steady state of a known delegation.
    for (const l of lanes) for (let i = 0; i < maxLanes; i++) await l.target.open(i);
    for (const l of lanes) await requireAllow(l.target, `lane ${l.name}`);
    progress(`${opt.rounds} interleaved rounds of ${lanes.length} lanes at ${LEVELS.join(", ")} in flight (load ${loadavg()})`);
    results = await runRounds({
      lanes,
      levels: LEVELS,
      rounds: Number(opt.rounds),
      warmupMs: Number(opt.warmup) * 1000,
      durationMs: Number(opt.duration) * 1000,
      progress,
    });
  } finally {
    closers.forEach((c) => c());
    for (const s of stops) await s().catch(() => undefined);
    await receiver?.close();
    for (const p of prefixes) await deleteKeys(REDIS_URL, p).catch((e: Error) => progress(`could not delete keys under ${p}: ${e.message}`));
    for (const d of temps) rmSync(d, { recursive: true, force: true });
  }

  const load1 = loadavg();
  console.log(
    `\nmcp-pdp feature costs — ${os.availableParallelism()} cores (${os.cpus()[0]?.model ?? "?"}), node ${process.version}; load average (1/5/15 min) ${load0} → ${load1}\n` +
      `${opt.rounds} interleaved rounds, ${opt.duration} s per lane and level after ${opt.warmup} s warm-up; ${opt.policies} policies; ${STORE} store; ${opt.connections} connections; 1 worker per PDP` +
      (receiver ? `; OTLP receiver got ${receiver.posts()} exports (${(receiver.bytes() / 1024).toFixed(0)} KiB)` : "") +
      "\n",
  );
  const get = (lane: string, level: number) => results.find((r) => r.lane === lane && r.inFlight === level);
  const rows = results.map((r) => {
    const b = BASELINE[r.lane] ? get(BASELINE[r.lane]!, r.inFlight) : undefined;
    return [
      r.lane,
      String(r.inFlight),
      ms(r.authorize.p50),
      ms(r.authorize.p99),
      r.decisionsPerSecond.toFixed(0),
      `${r.cpuUsPerDecision.toFixed(0)}µs`,
      b ? `${(r.authorize.p50 / b.authorize.p50).toFixed(2)}×` : "",
      b ? `${(r.cpuUsPerDecision / b.cpuUsPerDecision).toFixed(2)}×` : "",
      b ? BASELINE[r.lane]! : "",
      spread(r.perRound.map((x) => x.p50), 3),
      spread(r.perRound.map((x) => x.cpuUsPerDecision)),
      Object.entries(r.unexpected).map(([k, v]) => `${k}:${v}`).join(" ") || "0",
    ];
  });
  table(["lane", "in flight", "p50", "p99", "decisions/s", "PDP CPU/decision", "p50 ratio", "CPU ratio", "vs", "p50 (rounds, ms)", "CPU (rounds, µs)", "not ALLOW"], rows);
  if (opt.json) writeFileSync(opt.json, JSON.stringify({ loadavgStart: load0, loadavgEnd: load1, options: opt, results }, null, 2));
}

await main();
