/**
 * Authorize benchmark (issue 8): the PDP as its own process, driven over real gRPC on loopback
 * with dev-issuer tokens, Redis (or memory) sessions and the audit on — beside what its parts cost
 * alone, measured in the same run: a grpc-js echo round trip, cedar-wasm evaluation, the Redis
 * round trips of a decision, and JWT verification.
 *
 *   npm run bench [-- --quick | --soak] [--duration S] [--warmup S] [--concurrency 1,16,64]
 *                 [--workers N|auto] [--policies 10,200,2000] [--connections 4] [--json FILE] [--profile DIR] [--only NAME]
 *
 * Sessions: every lane opens a session (OpenSession, measured separately) and makes 50 allowed
 * calls in it — the shipped `session-call-budget` policy denies the 51st — then opens the next.
 * The policy sets are the shipped `cedar/` (policies and budget unchanged) plus generated policies
 * and tools (test/policy/support/generated-policies.ts) in temporary copies.
 * AuthZEN: on the `redis <200>p 1w` PDP the same lanes also run over the AuthZEN door (HTTP/1.1
 * keep-alive, JSON; bench/lib/authzen-target.ts) at the same levels, rows `… authzen`
 * (`--no-authzen` skips them).
 * Redis: REDIS_URL (default redis://127.0.0.1:6379), keys under `bench:<random>:`, deleted at the end.
 * Progress goes to stderr; the table to stdout.
 */
import { cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { randomBytes } from "node:crypto";
import { packageRoot } from "../src/config/load-config.js";
import { devIdentityConfig, mintDevToken } from "../src/identity/dev-issuer.js";
import { createTokenVerifier } from "../src/identity/token-verifier.js";
import { createCedarEngine, loadPolicySet } from "../src/policy/index.js";
import type { DecisionInput } from "../src/policy/index.js";
import { createRedisConnection, type RedisClient } from "../src/redis/connection.js";
import { RedisDecisionStateReader } from "../src/session/redis-decision-state-reader.js";
import { RedisSessionStore } from "../src/session/redis-session-store.js";
import { userRef } from "../src/session/user-ref.js";
import { AuthorizationService } from "../src/gen/mcppdp/v1/authorization_pb.js";
import { Action } from "../src/gen/mcppdp/v1/common_pb.js";
import { createClient } from "../src/grpc/client.js";
import { addGeneratedPolicies } from "../test/policy/support/generated-policies.js";
import { authzenTarget } from "./lib/authzen-target.js";
import { connect, drive, laneTokens, SERVER, TOOLS, type LoadResult } from "./lib/driver.js";
import { cpuSeconds, processTree, rssMiB, spawnChild, type Child } from "./lib/processes.js";
import { ms, timeIt, type LatencySummary } from "./lib/stats.js";

const { values: opt } = parseArgs({
  options: {
    quick: { type: "boolean", default: false },
    soak: { type: "boolean", default: false },
    duration: { type: "string" },
    warmup: { type: "string" },
    concurrency: { type: "string" },
    workers: { type: "string", default: "auto" },
    policies: { type: "string", default: "10,200,2000" },
    connections: { type: "string", default: "4" },
    json: { type: "string" },
    profile: { type: "string" },
    only: { type: "string" },
    "no-authzen": { type: "boolean", default: false },
  },
});

const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const PREFIX = `bench:${randomBytes(6).toString("hex")}:`;
const CORES = os.availableParallelism();
const WORKERS = opt.workers === "auto" ? CORES : Number(opt.workers);
const DURATION_S = Number(opt.duration ?? (opt.soak ? 600 : opt.quick ? 1.5 : 8));
const WARMUP_S = Number(opt.warmup ?? (opt.quick ? 0.5 : 2));
const CONNECTIONS = Number(opt.connections);
const POLICY_COUNTS = opt.policies.split(",").map(Number);
const [SMALL, MEDIUM, LARGE] = [POLICY_COUNTS[0] ?? 10, POLICY_COUNTS[1] ?? 200, POLICY_COUNTS[2] ?? 2000];
const LEVELS = opt.concurrency ? opt.concurrency.split(",").map(Number) : undefined;
const temps: string[] = [];
const started = Date.now();

const progress = (msg: string) => process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${msg}\n`);

/** One PDP configuration and the concurrency levels to drive it at. */
interface Scenario {
  readonly name: string;
  readonly store: "redis" | "memory";
  readonly policies: number;
  readonly workers: number;
  readonly levels: readonly number[];
}

/** One measured run. */
interface Run extends LoadResult {
  readonly scenario: string;
  /** Which door the lanes used. */
  readonly door: "grpc" | "authzen";
  readonly store: string;
  readonly policies: number;
  readonly workers: number;
  /** PDP CPU (all its processes) per Authorize, µs; and the bench process's own. */
  readonly pdpCpuUsPerCall: number;
  readonly benchCpuUsPerCall: number;
}

function scenarios(): Scenario[] {
  const l = (def: number[]) => LEVELS ?? def;
  if (opt.soak) return [{ name: "soak", store: "redis", policies: MEDIUM, workers: WORKERS, levels: LEVELS ?? [64] }];
  if (opt.quick)
    return [
      { name: `redis ${MEDIUM}p 1w`, store: "redis", policies: MEDIUM, workers: 1, levels: l([1, 64]) },
      { name: `redis ${LARGE}p 1w`, store: "redis", policies: LARGE, workers: 1, levels: l([1]) },
      { name: `memory ${MEDIUM}p 1w`, store: "memory", policies: MEDIUM, workers: 1, levels: l([1]) },
      ...(WORKERS > 1 ? [{ name: `redis ${MEDIUM}p ${WORKERS}w`, store: "redis" as const, policies: MEDIUM, workers: WORKERS, levels: l([64]) }] : []),
    ];
  return [
    { name: `redis ${MEDIUM}p 1w`, store: "redis", policies: MEDIUM, workers: 1, levels: l([1, 16, 64]) },
    { name: `redis ${SMALL}p 1w`, store: "redis", policies: SMALL, workers: 1, levels: l([1, 64]) },
    { name: `redis ${LARGE}p 1w`, store: "redis", policies: LARGE, workers: 1, levels: l([1, 64]) },
    { name: `memory ${MEDIUM}p 1w`, store: "memory", policies: MEDIUM, workers: 1, levels: l([1, 64]) },
    ...(WORKERS > 1 ? [{ name: `redis ${MEDIUM}p ${WORKERS}w`, store: "redis" as const, policies: MEDIUM, workers: WORKERS, levels: l([1, 16, 64]) }] : []),
  ];
}

/** A temporary copy of `cedar/` with at least `count` policies (the shipped ones are always kept). */
const policyDirs = new Map<number, { dir: string; total: number }>();
function policyDir(count: number, shipped: number): { dir: string; total: number } {
  const known = policyDirs.get(count);
  if (known) return known;
  const dir = mkdtempSync(path.join(os.tmpdir(), `mcp-pdp-bench-${count}-`));
  temps.push(dir);
  cpSync(path.join(packageRoot, "cedar"), dir, { recursive: true });
  const extra = Math.max(0, count - shipped);
  if (extra > 0) addGeneratedPolicies(dir, extra);
  const made = { dir, total: shipped + extra };
  policyDirs.set(count, made);
  return made;
}

async function startPdp(s: Scenario, dir: string): Promise<Child> {
  const confDir = mkdtempSync(path.join(os.tmpdir(), "mcp-pdp-bench-conf-"));
  temps.push(confDir);
  const file = path.join(confDir, "config.json");
  writeFileSync(
    file,
    JSON.stringify({
      mode: "development",
      host: "127.0.0.1",
      port: 0,
      cedarDir: dir,
      logLevel: "info",
      // The pino decision log is on (serialised and written), to /dev/null so runs fill no disk.
      decisionLog: "/dev/null",
      workers: s.workers,
      store: s.store === "redis" ? { backend: "redis", redis: { url: REDIS_URL, keyPrefix: PREFIX } } : { backend: "memory" },
      // Records stay 30 s in the Redis stream: enough to count, bounded on a shared Redis.
      audit: s.store === "redis" ? { redisRetentionMs: 30_000 } : {},
    }),
  );
  const ready = s.workers > 1 ? /"port":(\d+)[^\n]*"msg":"mcp-pdp workers serving"/ : /"port":(\d+)[^\n]*"msg":"mcp-pdp serving"/;
  // --profile DIR: the PDP writes a V8 CPU profile there when it stops (bench/profile-summary.ts reads it).
  const flags = opt.profile ? ["--cpu-prof", "--cpu-prof-dir", path.resolve(opt.profile)] : [];
  return spawnChild("src/cli/main.ts", ["serve", "--config", file], {}, ready, flags);
}

/** The Cedar input of a typical mid-session call (what the PDP evaluates for the bench's calls). */
function typicalInput(): DecisionInput {
  const history = Array.from({ length: 25 }, (_, i) => TOOLS[i % 2] as string);
  return {
    agent: { id: "spiffe://dev.mcp-pdp.local/agent/research-assistant", trustDomain: "dev.mcp-pdp.local" },
    user: { issuer: "https://dev-issuer.mcp-pdp.invalid", subject: "bench-user-0", scopes: [] },
    clientId: "dev-client",
    serverId: SERVER,
    idp: "https://dev-issuer.mcp-pdp.invalid",
    action: "call_tool",
    tool: "search_documents",
    purpose: "research",
    arguments: { query: "q1", limit: 10 },
    session: { callCount: 25, tools: history, labels: ["sensitive"], riskTotal: 37 },
  };
}

interface Limits {
  echo: { sequential: LatencySummary; perSecond64: number };
  cedar: Record<string, LatencySummary>;
  redis: { loadForDecision: LatencySummary; appendCall: LatencySummary };
  jwt: { cold: LatencySummary; cached: LatencySummary };
}

/** The parts alone, in this process (cedar, Redis, JWT) and against the echo server process. */
async function measureLimits(shipped: number, sessionId: string): Promise<Limits> {
  const n = opt.quick ? 500 : 3000;
  progress("limits: gRPC echo");
  const echo = await spawnChild("bench/echo-server.ts", [], {}, /echo serving \{"port":(\d+)\}/);
  const tokens = (await laneTokens(1))[0]!;
  const request = {
    ...tokens,
    clientId: "dev-client",
    serverId: SERVER,
    purpose: "research",
    sessionId,
    action: Action.CALL_TOOL,
    tool: "search_documents",
    arguments: { query: "q1", limit: 10 },
  };
  const echoClient = createClient(AuthorizationService, `127.0.0.1:${echo.port}`);
  const sequential = await timeIt(n, 300, () => echoClient.authorize(request));
  let done = 0;
  const until = performance.now() + (opt.quick ? 1000 : 3000);
  await Promise.all(
    Array.from({ length: 64 }, async () => {
      while (performance.now() < until) {
        await echoClient.authorize(request);
        done++;
      }
    }),
  );
  const perSecond64 = done / ((opt.quick ? 1000 : 3000) / 1000);
  echoClient.close();
  await echo.stop();

  progress("limits: cedar-wasm evaluation alone");
  const cedar: Record<string, LatencySummary> = {};
  const input = typicalInput();
  for (const count of [SMALL, MEDIUM, LARGE]) {
    const { dir, total } = policyDir(count, shipped);
    const loaded = loadPolicySet(dir);
    const engine = createCedarEngine(loaded, { slot: `bench-${count}` });
    if (engine.evaluate(input).decision !== "allow") throw new Error(`the bench's typical call is not allowed under ${total} policies`);
    cedar[`${total} policies`] = await timeIt(n, 300, () => engine.evaluate(input));
    const whole = createCedarEngine(loaded, { slot: `bench-${count}-whole`, partition: false });
    cedar[`${total} policies, whole set`] = await timeIt(count >= 1000 ? Math.ceil(n / 10) : n, 50, () => whole.evaluate(input));
  }

  progress("limits: Redis round trips");
  const client: RedisClient = createRedisConnection({ url: REDIS_URL, lazyConnect: true });
  await client.connect();
  const reader = new RedisDecisionStateReader({ client, keyPrefix: PREFIX });
  const store = new RedisSessionStore({ client, keyPrefix: PREFIX });
  const subjects = {
    sessionId,
    agentId: "spiffe://dev.mcp-pdp.local/agent/research-assistant",
    user: userRef("https://dev-issuer.mcp-pdp.invalid", "bench-user-0"),
    clientId: "dev-client",
    tokenIds: [randomBytes(8).toString("hex"), randomBytes(8).toString("hex")],
    tokensIssuedAt: Date.now() - 1000,
  };
  const loadForDecision = await timeIt(n, 200, () => reader.loadForDecision(sessionId, subjects));
  const appendCall = await timeIt(Math.min(n, 1000), 50, () => store.appendCall(sessionId, { tool: "search_documents", labels: [], risk: 1 }));
  await store.close();
  client.disconnect();

  progress("limits: JWT verification");
  const verifier = createTokenVerifier(devIdentityConfig(), { operators: [] });
  const fresh = await Promise.all(Array.from({ length: opt.quick ? 200 : 1000 }, (_, i) => mintDevToken("user", { audience: SERVER, subject: `cold-${i}` })));
  const cold = await timeIt(fresh.length - 20, 20, (i) => verifier.verifyUser(fresh[i]!, SERVER));
  const cached = await timeIt(n, 100, () => verifier.verifyUser(tokens.userToken, SERVER));
  await verifier.close();
  return { echo: { sequential, perSecond64 }, cedar, redis: { loadForDecision, appendCall }, jwt: { cold, cached } };
}

/** Opens one session through the PDP (for the Redis limit measurements). */
async function openOneSession(port: number): Promise<string> {
  const c = connect(`127.0.0.1:${port}`, 1);
  const t = (await laneTokens(1))[0]!;
  const s = await c.sessions[0]!.openSession({ ...t, clientId: "dev-client", serverId: SERVER, purpose: "research", tools: [...TOOLS], ttl: { seconds: 600n, nanos: 0 } });
  c.close();
  if (!s.sessionId) throw new Error(`OpenSession refused: ${s.message}`);
  return s.sessionId;
}

async function deleteBenchKeys(): Promise<number> {
  const client = createRedisConnection({ url: REDIS_URL, lazyConnect: true, commandTimeoutMs: 10_000 });
  await client.connect();
  let cursor = "0";
  let deleted = 0;
  const c = client as import("ioredis").Redis;
  do {
    const [next, keys] = await c.scan(cursor, "MATCH", `${PREFIX.replace(/[*?[\]\\]/g, "\\$&")}*`, "COUNT", 1000);
    cursor = next;
    const mine = keys.filter((k) => k.startsWith(PREFIX));
    if (mine.length) deleted += await c.unlink(...mine);
  } while (cursor !== "0");
  client.disconnect();
  return deleted;
}

/** Audit records written to the Redis stream so far (the chain head's sequence). */
async function auditSequence(): Promise<number> {
  const client = createRedisConnection({ url: REDIS_URL, lazyConnect: true });
  await client.connect();
  const seq = await (client as import("ioredis").Redis).hget(`${PREFIX}{audit:decisions}:head`, "seq");
  client.disconnect();
  return Number(seq ?? 0);
}

async function main(): Promise<void> {
  const load0 = os.loadavg();
  const shipped = loadPolicySet(path.join(packageRoot, "cedar")).policies.size;
  progress(`${CORES} cores, node ${process.version}, load ${load0.map((x) => x.toFixed(2)).join(" ")}; Redis ${REDIS_URL} prefix ${PREFIX}`);
  const runs: Run[] = [];
  let limits: Limits | undefined;
  const rss: { t: number; mib: number }[] = [];
  let soakAudit: { calls: number; records: number } | undefined;
  let soakExit: number | string | undefined;

  // --only TEXT: just the scenarios whose name contains TEXT (e.g. "redis 200p 1w").
  for (const s of scenarios().filter((x) => !opt.only || x.name.includes(opt.only as string))) {
    const { dir, total } = policyDir(s.policies, shipped);
    progress(`${s.name}: starting the PDP (${total} policies, ${s.store}, ${s.workers} worker${s.workers > 1 ? "s" : ""})`);
    const t0 = performance.now();
    const pdp = await startPdp(s, dir);
    progress(`${s.name}: serving on ${pdp.port} after ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const seq0 = s.store === "redis" ? await auditSequence() : 0;
    try {
      if (!limits && s.store === "redis" && !opt.soak) limits = await measureLimits(shipped, await openOneSession(pdp.port));
      const maxLanes = Math.max(...s.levels);
      const tokens = await laneTokens(maxLanes);
      const conns = connect(`127.0.0.1:${pdp.port}`, CONNECTIONS);
      let sampler: NodeJS.Timeout | undefined;
      if (opt.soak) {
        const sample = () => rss.push({ t: (Date.now() - started) / 1000, mib: rssMiB(processTree(pdp.child.pid!)).reduce((a, b) => a + b, 0) });
        sample();
        sampler = setInterval(sample, 10_000);
      }
      // The AuthZEN door, on the one PDP where the two doors are compared (same levels, after gRPC).
      const httpPort = Number(/"httpPort":(\d+)[^\n]*"msg":"mcp-pdp (?:workers )?serving"/.exec(pdp.stderr())?.[1] ?? NaN);
      const authzen = !opt["no-authzen"] && s.name === `redis ${MEDIUM}p 1w` && httpPort > 0 ? authzenTarget(`http://127.0.0.1:${httpPort}`, tokens, CONNECTIONS) : undefined;
      const runsOf: [Run["door"], number][] = [...s.levels.map((l) => ["grpc", l] as [Run["door"], number]), ...(authzen ? s.levels.map((l) => ["authzen", l] as [Run["door"], number]) : [])];
      for (const [door, lanes] of runsOf) {
        const pids = processTree(pdp.child.pid!);
        const pdpCpu0 = cpuSeconds(pids);
        const me0 = process.cpuUsage();
        const r = await drive({
          ...(door === "authzen" ? { target: authzen! } : { connections: conns, tokens }),
          lanes,
          warmupMs: WARMUP_S * 1000,
          durationMs: DURATION_S * 1000,
          onTick: (calls) => {
            if (opt.soak && calls > 0 && Math.round(performance.now() / 1000) % 30 === 0)
              progress(`${s.name}: ${calls} calls, PDP RSS ${rss.at(-1)?.mib.toFixed(0)} MiB`);
          },
        });
        const calls = r.totalAuthorize + r.totalOpen;
        const me = process.cpuUsage(me0);
        const run: Run = {
          ...r,
          scenario: door === "authzen" ? `${s.name} authzen` : s.name,
          door,
          store: s.store,
          policies: total,
          workers: s.workers,
          pdpCpuUsPerCall: ((cpuSeconds(processTree(pdp.child.pid!)) - pdpCpu0) * 1e6) / calls,
          benchCpuUsPerCall: (me.user + me.system) / calls,
        };
        runs.push(run);
        progress(
          `${s.name} ×${lanes}: p50 ${ms(r.authorize.p50)} p99 ${ms(r.authorize.p99)} p99.9 ${ms(r.authorize.p999)} — ${r.decisionsPerSecond.toFixed(0)}/s${Object.keys(r.unexpected).length ? ` unexpected ${JSON.stringify(r.unexpected)}` : ""}`,
        );
      }
      clearInterval(sampler);
      conns.close();
      authzen?.close();
      if (opt.soak) soakAudit = { calls: runs.reduce((a, r) => a + r.totalAuthorize + r.totalOpen, 0), records: 0 };
    } finally {
      const code = await pdp.stop();
      if (opt.soak) soakExit = code;
      if (code !== 0) progress(`${s.name}: the PDP exited with ${code}:\n${pdp.stderr().slice(-2000)}`);
      if (/Fatal error|unreachable code/.test(pdp.stderr())) progress(`${s.name}: V8 FATAL in the PDP log`);
    }
    if (soakAudit && s.store === "redis") soakAudit.records = (await auditSequence()) - seq0;
  }

  const load1 = os.loadavg();
  const report = buildReport(runs, limits, { load0, load1, shipped });
  if (opt.soak) {
    const first = rss.slice(1, Math.max(2, Math.ceil(rss.length / 5)));
    const last = rss.slice(-Math.max(1, Math.ceil(rss.length / 5)));
    const avg = (xs: typeof rss) => xs.reduce((a, x) => a + x.mib, 0) / Math.max(1, xs.length);
    Object.assign(report, { soak: { rss, rssFirstFifthMiB: avg(first), rssLastFifthMiB: avg(last), audit: soakAudit, exit: soakExit } });
    console.log(
      `\nsoak: ${DURATION_S} s; PDP exit ${soakExit}; RSS first fifth ${avg(first).toFixed(0)} MiB, last fifth ${avg(last).toFixed(0)} MiB; ` +
        `decisions ${soakAudit?.calls}, audit records ${soakAudit?.records}${soakAudit && soakAudit.calls === soakAudit.records ? " (every decision audited)" : " (MISMATCH)"}`,
    );
  }
  if (opt.json) writeFileSync(opt.json, JSON.stringify(report, (_k, v) => (typeof v === "bigint" ? String(v) : v), 2));
  if (opt.soak && (soakExit !== 0 || !soakAudit || soakAudit.calls !== soakAudit.records)) process.exitCode = 1;
}

function buildReport(runs: Run[], limits: Limits | undefined, env: { load0: number[]; load1: number[]; shipped: number }): Record<string, unknown> {
  const cpu = os.cpus()[0]?.model ?? "?";
  console.log(`\nmcp-pdp Authorize benchmark — ${CORES} cores (${cpu}), node ${process.version}, load average ${env.load0[0]?.toFixed(2)} → ${env.load1[0]?.toFixed(2)} (1 min)`);
  console.log(`tokens + sessions + audit on; ${DURATION_S} s per run after ${WARMUP_S} s warm-up; ${CONNECTIONS} gRPC connections; bench process on the same cores\n`);
  const head = ["scenario", "in flight", "p50", "p99", "p99.9", "decisions/s", "open p50", "PDP CPU/call", "bench CPU/call", "not ALLOW"];
  const rows = runs.map((r) => [
    r.scenario,
    String(r.lanes),
    ms(r.authorize.p50),
    ms(r.authorize.p99),
    ms(r.authorize.p999),
    r.decisionsPerSecond.toFixed(0),
    ms(r.openSession.p50),
    `${r.pdpCpuUsPerCall.toFixed(0)}µs`,
    `${r.benchCpuUsPerCall.toFixed(0)}µs`,
    Object.entries(r.unexpected).map(([k, v]) => `${k}:${v}`).join(" ") || "0",
  ]);
  table(head, rows);

  const out: Record<string, unknown> = {
    machine: { cores: CORES, cpu, node: process.version, loadavgStart: env.load0, loadavgEnd: env.load1 },
    options: { durationS: DURATION_S, warmupS: WARMUP_S, connections: CONNECTIONS, workers: WORKERS, shippedPolicies: env.shipped, redis: REDIS_URL },
    runs,
  };
  if (!limits) return out;
  const c = limits.cedar;
  console.log("\nthe parts alone (same run; p50 / p99):");
  table(
    ["part", "p50", "p99"],
    [
      ["gRPC echo round trip (same messages)", ms(limits.echo.sequential.p50), ms(limits.echo.sequential.p99)],
      ...Object.entries(c).map(([k, v]) => [`cedar evaluate, ${k}`, ms(v.p50), ms(v.p99)]),
      ["Redis loadForDecision (1 pipeline)", ms(limits.redis.loadForDecision.p50), ms(limits.redis.loadForDecision.p99)],
      ["Redis appendCall (ALLOW in a session)", ms(limits.redis.appendCall.p50), ms(limits.redis.appendCall.p99)],
      ["JWT verify, cold (jose ES256)", ms(limits.jwt.cold.p50), ms(limits.jwt.cold.p99)],
      ["JWT verify, cached (by digest)", ms(limits.jwt.cached.p50), ms(limits.jwt.cached.p99)],
    ],
  );
  console.log(`gRPC echo, 64 in flight: ${limits.echo.perSecond64.toFixed(0)}/s`);
  const medium = `${policyDirs.get(MEDIUM)?.total} policies`;
  const sum = limits.echo.sequential.p50 + (c[medium]?.p50 ?? NaN) + limits.redis.loadForDecision.p50 + limits.redis.appendCall.p50 + 2 * limits.jwt.cached.p50;
  const seq = (scenario: string) => runs.find((r) => r.scenario === scenario && r.lanes === 1);
  const best64 = Math.max(...runs.filter((r) => r.door === "grpc" && r.lanes === 64 && r.store === "redis" && r.policies === policyDirs.get(MEDIUM)?.total).map((r) => r.decisionsPerSecond));
  const a = seq(`redis ${MEDIUM}p 1w`);
  const az = seq(`redis ${MEDIUM}p 1w authzen`);
  const big = seq(`redis ${LARGE}p 1w`);
  const ratios = {
    sumOfPartsP50Ms: sum,
    authorizeOverSumOfParts: a ? a.authorize.p50 / sum : NaN,
    authorizeOverEcho: a ? a.authorize.p50 / limits.echo.sequential.p50 : NaN,
    largeOverMedium: a && big ? big.authorize.p50 / a.authorize.p50 : NaN,
    authzenOverGrpc: a && az ? az.authorize.p50 / a.authorize.p50 : NaN,
  };
  console.log(
    `\nsum of parts (echo + cedar ${medium} + Redis load + Redis append + 2 × cached JWT) p50 = ${ms(sum)}; ` +
      `Authorize sequential p50 (Redis, ${medium}, 1 worker) = ${ms(a?.authorize.p50 ?? NaN)} → ratio ${ratios.authorizeOverSumOfParts.toFixed(2)}`,
  );
  const targets = [
    ["sequential p50 ≤ 0.6 ms (Redis, 200 policies, 1 worker)", a ? a.authorize.p50 <= 0.6 : false, ms(a?.authorize.p50 ?? NaN)],
    ["sequential p99 ≤ 2 ms (Redis, 200 policies, 1 worker)", a ? a.authorize.p99 <= 2 : false, ms(a?.authorize.p99 ?? NaN)],
    ["≥ 4,000 decisions/s at 64 in flight (Redis, 200 policies, best workers)", best64 >= 4000, best64.toFixed(0)],
    ["2000-policy p50 ≤ 1.5 × 200-policy p50", ratios.largeOverMedium <= 1.5, `${ratios.largeOverMedium.toFixed(2)}×`],
    ["Authorize p50 ≤ 3 × gRPC echo p50", ratios.authorizeOverEcho <= 3, `${ratios.authorizeOverEcho.toFixed(2)}×`],
    ...(az ? [["AuthZEN evaluation p50 ≤ 1.2 × gRPC Authorize p50 (sequential, Redis, 200 policies, 1 worker)", ratios.authzenOverGrpc <= 1.2, `${ratios.authzenOverGrpc.toFixed(2)}×`] as const] : []),
  ] as const;
  console.log("\ntargets:");
  for (const [what, ok, value] of targets) console.log(`  ${ok ? "MET " : "MISS"}  ${what}: ${value}`);
  return { ...out, limits, ratios, targets: targets.map(([what, met, value]) => ({ what, met, value })) };
}

function table(head: readonly string[], rows: readonly (readonly string[])[]): void {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  console.log(line(head));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  rows.forEach((r) => console.log(line(r)));
}

try {
  await main();
} finally {
  const n = await deleteBenchKeys().catch((e: Error) => (progress(`could not delete the bench keys: ${e.message}`), 0));
  progress(`deleted ${n} Redis keys under ${PREFIX}`);
  for (const d of temps) rmSync(d, { recursive: true, force: true });
}

