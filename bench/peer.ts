/**
 * Peer benchmark (issue 11): mcp-pdp beside Cerbos, driven by the same lanes in one run.
 *
 *   npm run bench -- --peer [--policies 200,2000] [--rounds 3] [--duration S] [--warmup S]
 *                   [--concurrency 1,64] [--connections 4] [--layout one|per-server]
 *                   [--lanes "mcp-pdp memory,cerbos"] [--sample 40] [--json FILE] [--quick]
 *
 * Lanes (one server process each, all running, measured in turn — interleaved rounds):
 *   mcp-pdp memory   the full Authorize: both tokens verified (cached), session, audit, memory store
 *   mcp-pdp redis    the same with the Redis store and audit stream
 *   cerbos           Cerbos 0.55 CheckResources with the translated policies; the PEP sends the
 *                    user's idp and scopes as attributes and keeps the session facts
 *   cerbos+jwt       the same, with the user JWT in auxData, verified by Cerbos against a JWKS
 *                    served on loopback (idp and scopes read from the token)
 * Cerbos layout (`--layout`): `per-server` (default) gives each server's tools their own resource
 * kind, so Cerbos checks a call only against the rules that can apply to its server — the partition
 * mcp-pdp makes by itself; `one` is the literal translation (one `tool` kind holding every rule).
 * Cerbos is installed on demand into bench/.peer/ (git-ignored). Before measuring, every policy set
 * is checked on a sample of a few hundred decisions (allow and deny) to give the same answers in
 * mcp-pdp and both Cerbos variants; a mismatch stops the run with exit status 1.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { randomBytes } from "node:crypto";
import { packageRoot } from "../src/config/load-config.js";
import { connect, laneTokens, pdpTarget, type Connections } from "./lib/driver.js";
import { pdpConfig, startPdpProcess, type PdpProcess } from "./lib/pdp-server.js";
import { policyCopy } from "./lib/policy-dirs.js";
import { deleteKeys } from "./lib/redis-keys.js";
import { runRounds, spread, table, type Lane, type LaneResult } from "./lib/rounds.js";
import { ms } from "./lib/stats.js";
import { checkAgreement, type Agreement, type Peer } from "./peer/agreement.js";
import { translate, writePolicies, type Layout } from "./peer/cedar-to-cerbos.js";
import { cerbosClientClass, CERBOS_VERSION, ensureCerbos, serveJwks, startCerbos, type CerbosClient, type CerbosServer } from "./peer/cerbos.js";
import { cerbosTarget } from "./peer/cerbos-target.js";

const { values: opt } = parseArgs({
  options: {
    peer: { type: "boolean", default: true },
    quick: { type: "boolean", default: false },
    policies: { type: "string", default: "200,2000" },
    rounds: { type: "string" },
    duration: { type: "string" },
    warmup: { type: "string" },
    concurrency: { type: "string", default: "1,64" },
    connections: { type: "string", default: "4" },
    layout: { type: "string", default: "per-server" },
    lanes: { type: "string", default: "mcp-pdp memory,mcp-pdp redis,cerbos,cerbos+jwt" },
    sample: { type: "string", default: "40" },
    json: { type: "string" },
  },
});

const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const PREFIX = `bench:${randomBytes(6).toString("hex")}:`;
const ROUNDS = Number(opt.rounds ?? (opt.quick ? 1 : 3));
const DURATION_S = Number(opt.duration ?? (opt.quick ? 1.5 : 4));
const WARMUP_S = Number(opt.warmup ?? (opt.quick ? 0.5 : 1));
const LEVELS = opt.concurrency.split(",").map(Number);
const LANES = opt.lanes.split(",").map((s) => s.trim());
const LAYOUT = opt.layout as Layout;
if (LAYOUT !== "one" && LAYOUT !== "per-server") throw new Error("--layout is one or per-server");
const started = Date.now();
const progress = (msg: string) => process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${msg}\n`);
const loadavg = () => os.loadavg().map((x) => x.toFixed(2)).join(" ");

/** What one policy count measured. */
interface CountResult {
  readonly policies: number;
  readonly cerbosRules: number;
  readonly agreement: Agreement;
  readonly results: readonly LaneResult[];
}

async function measureCount(count: number, bin: string, jwksUrl: string, temps: string[]): Promise<CountResult> {
  const { dir, total } = policyCopy(path.join(packageRoot, "cedar"), count, temps);
  const work = mkdtempSync(path.join(os.tmpdir(), "mcp-pdp-peer-"));
  temps.push(work);
  const GRPC = await cerbosClientClass();
  const connections = Number(opt.connections);
  const stops: (() => Promise<unknown>)[] = [];
  const closers: (() => void)[] = [];
  try {
    const tokens = await laneTokens(Math.max(...LEVELS));
    const lanes: Lane[] = [];
    const peers: Peer[] = [];
    let cerbosRules = 0;
    const pdps = new Map<string, { pdp: PdpProcess; conns: Connections }>();
    for (const name of LANES) {
      if (name.startsWith("mcp-pdp")) {
        const store = name.endsWith("redis") ? "redis" : "memory";
        progress(`${total} policies: starting ${name}`);
        const pdp = await startPdpProcess(pdpConfig({ cedarDir: dir, store, redisUrl: REDIS_URL, keyPrefix: PREFIX }), path.join(work, `${store}.json`));
        stops.push(() => pdp.stop());
        const conns = connect(`127.0.0.1:${pdp.port}`, connections);
        closers.push(() => conns.close());
        pdps.set(name, { pdp, conns });
        lanes.push({ name, target: pdpTarget(conns, tokens), pid: pdp.child.pid! });
      } else if (name === "cerbos" || name === "cerbos+jwt") {
        const jwt = name === "cerbos+jwt";
        const model = translate(dir, { jwt, layout: LAYOUT });
        cerbosRules = model.cerbosRules;
        const policyDir = path.join(work, `cerbos-policies-${jwt ? "jwt" : "plain"}`);
        writePolicies(model, policyDir);
        progress(`${total} policies: starting ${name} (${model.cerbosRules} rules in ${model.files.size} resource policies; not translated: ${model.skipped.join(", ") || "none"})`);
        const server: CerbosServer = await startCerbos(bin, policyDir, work, jwt ? jwksUrl : undefined);
        stops.push(() => server.stop());
        const clients: CerbosClient[] = Array.from({ length: connections }, () => new GRPC(server.grpcAddress, { tls: false, channelOptions: { "grpc.use_local_subchannel_pool": 1 } }));
        closers.push(() => clients.forEach((c) => c.close()));
        peers.push({ name, client: clients[0]!, model, jwt });
        lanes.push({ name, target: cerbosTarget(clients, model, jwt, tokens), pid: server.child.pid! });
      } else throw new Error(`unknown lane ${name}`);
    }

    // Same decisions on a sample, before anything is measured.
    const reference = pdps.get("mcp-pdp memory") ?? pdps.values().next().value;
    let agreement: Agreement = { questions: 0, allowed: 0, denied: 0, reasons: {}, mismatches: [] };
    if (reference && peers.length) {
      agreement = await checkAgreement(reference.conns, peers, Number(opt.sample));
      progress(`${total} policies: sample of ${agreement.questions} decisions (${agreement.allowed} allowed, ${agreement.denied} not): ${agreement.mismatches.length} mismatches`);
      if (agreement.mismatches.length || !agreement.allowed || !agreement.denied) {
        for (const m of agreement.mismatches.slice(0, 20)) process.stderr.write(`  MISMATCH ${m}\n`);
        throw new Error(`Cerbos and mcp-pdp disagree on ${agreement.mismatches.length} of ${agreement.questions} sampled decisions (${total} policies)`);
      }
    }

    progress(`${total} policies: ${ROUNDS} interleaved rounds of ${lanes.map((l) => l.name).join(", ")} at ${LEVELS.join(", ")} in flight (load ${loadavg()})`);
    const results = await runRounds({ lanes, levels: LEVELS, rounds: ROUNDS, warmupMs: WARMUP_S * 1000, durationMs: DURATION_S * 1000, progress });
    return { policies: total, cerbosRules, agreement, results };
  } finally {
    closers.forEach((c) => c());
    for (const s of stops) await s().catch(() => undefined);
  }
}

function report(counts: readonly CountResult[], env: { load0: string; load1: string }): void {
  const cpu = os.cpus()[0]?.model ?? "?";
  console.log(`\nmcp-pdp beside Cerbos ${CERBOS_VERSION} — ${os.availableParallelism()} cores (${cpu}), node ${process.version}`);
  console.log(`load average (1/5/15 min) ${env.load0} → ${env.load1}; ${ROUNDS} interleaved rounds, ${DURATION_S} s per lane and level after ${WARMUP_S} s warm-up; ${opt.connections} connections; Cerbos layout "${LAYOUT}"`);
  const seqLevel = Math.min(...LEVELS);
  const parLevel = Math.max(...LEVELS);
  for (const c of counts) {
    const a = c.agreement;
    console.log(
      `\n${c.policies} Cedar policies → ${c.cerbosRules} Cerbos rules; same decisions on a sample of ${a.questions} (${a.allowed} allowed, ${a.denied} not: ${Object.entries(a.reasons)
        .map(([k, v]) => `${k} ${v}`)
        .join(", ")})`,
    );
    const at = (lane: string, level: number) => c.results.find((r) => r.lane === lane && r.inFlight === level);
    const rows = LANES.map((lane) => {
      const s = at(lane, seqLevel);
      const p = at(lane, parLevel);
      return [
        lane,
        ms(s?.authorize.p50 ?? NaN),
        ms(s?.authorize.p99 ?? NaN),
        `${(s?.cpuUsPerDecision ?? NaN).toFixed(0)}µs`,
        (p?.decisionsPerSecond ?? NaN).toFixed(0),
        spread(p?.perRound.map((r) => r.decisionsPerSecond) ?? []),
        ms(p?.authorize.p50 ?? NaN),
        `${(p?.cpuUsPerDecision ?? NaN).toFixed(0)}µs`,
        spread(p?.perRound.map((r) => r.cpuUsPerDecision) ?? []),
        Object.entries({ ...s?.unexpected, ...p?.unexpected })
          .map(([k, v]) => `${k}:${v}`)
          .join(" ") || "0",
      ];
    });
    table(
      ["lane", `p50 ×${seqLevel}`, `p99 ×${seqLevel}`, `CPU/dec ×${seqLevel}`, `dec/s ×${parLevel}`, "(rounds)", `p50 ×${parLevel}`, `CPU/dec ×${parLevel}`, "(rounds)", "not ALLOW"],
      rows,
    );
    const ratios: string[][] = [];
    for (const ours of LANES.filter((l) => l.startsWith("mcp-pdp")))
      for (const peer of LANES.filter((l) => l.startsWith("cerbos"))) {
        const [os1, ps1, op, pp] = [at(ours, seqLevel), at(peer, seqLevel), at(ours, parLevel), at(peer, parLevel)];
        if (!os1 || !ps1 || !op || !pp) continue;
        ratios.push([
          `${ours} / ${peer}`,
          `${(os1.authorize.p50 / ps1.authorize.p50).toFixed(2)}×`,
          `${(os1.authorize.p99 / ps1.authorize.p99).toFixed(2)}×`,
          `${(op.decisionsPerSecond / pp.decisionsPerSecond).toFixed(2)}×`,
          `${(op.cpuUsPerDecision / pp.cpuUsPerDecision).toFixed(2)}×`,
        ]);
      }
    if (ratios.length) {
      console.log("");
      table(["ratio (ours / peer)", `p50 ×${seqLevel}`, `p99 ×${seqLevel}`, `throughput ×${parLevel}`, `CPU/dec ×${parLevel}`], ratios);
    }
  }
  if (counts.length > 1) {
    const [small, large] = [counts[0]!, counts[counts.length - 1]!];
    const line = LANES.map((lane) => {
      const s = small.results.find((r) => r.lane === lane && r.inFlight === seqLevel);
      const l = large.results.find((r) => r.lane === lane && r.inFlight === seqLevel);
      return `${lane} ${s && l ? (l.authorize.p50 / s.authorize.p50).toFixed(2) : "-"}×`;
    });
    console.log(`\nsequential p50 at ${large.policies} / at ${small.policies} policies: ${line.join(", ")}`);
  }
}

async function main(): Promise<void> {
  const load0 = loadavg();
  progress(`load ${load0}; Redis ${REDIS_URL} prefix ${PREFIX}`);
  const bin = LANES.some((l) => l.startsWith("cerbos")) ? ensureCerbos(progress) : "";
  const jwks = await serveJwks();
  const temps: string[] = [];
  const counts: CountResult[] = [];
  try {
    for (const count of opt.policies.split(",").map(Number)) counts.push(await measureCount(count, bin, jwks.url, temps));
  } finally {
    await jwks.close();
    if (LANES.includes("mcp-pdp redis")) {
      const n = await deleteKeys(REDIS_URL, PREFIX).catch((e: Error) => (progress(`could not delete the bench keys: ${e.message}`), 0));
      progress(`deleted ${n} Redis keys under ${PREFIX}`);
    }
    for (const d of temps) rmSync(d, { recursive: true, force: true });
  }
  const load1 = loadavg();
  report(counts, { load0, load1 });
  if (opt.json)
    writeFileSync(
      opt.json,
      JSON.stringify({ machine: { cores: os.availableParallelism(), cpu: os.cpus()[0]?.model, node: process.version, loadavgStart: load0, loadavgEnd: load1 }, cerbos: CERBOS_VERSION, layout: LAYOUT, rounds: ROUNDS, durationS: DURATION_S, warmupS: WARMUP_S, counts }, null, 2),
    );
}

await main();
