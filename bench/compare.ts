/**
 * Before/after (issue 11): builds a git ref in a temporary worktree, starts it beside this tree
 * and measures both in one run, interleaved: PDP CPU per decision and Authorize latency, with the
 * memory and the Redis store.
 *
 *   npm run bench -- --compare <git-ref> [--rounds 4] [--duration S] [--warmup S] [--concurrency 1,64]
 *                   [--stores memory,redis] [--policies 200] [--connections 4] [--json FILE]
 *                   [--before-config FILE] [--after-config FILE] [--keep-worktree]
 *
 * "before" is <git-ref>, checked out with `git worktree add --detach` under os.tmpdir(), installed
 * with `npm ci` and built; "after" is this working tree as it is (uncommitted changes included),
 * rebuilt with `npm run build`. Both run `node bin/mcp-pdp.js serve --config FILE` — the public
 * CLI, so internals may differ freely. Each side evaluates its own `cedar/` plus the same generated
 * policies. `--before-config` / `--after-config`: a JSON object merged over the generated config
 * of that side (null deletes a key), for when the config format changed between the two.
 * The temporary worktree is removed at the end, on failure and on Ctrl-C.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { randomBytes } from "node:crypto";
import { packageRoot } from "../src/config/load-config.js";
import { connect, laneTokens, pdpTarget, requireAllow, type Connections } from "./lib/driver.js";
import { mergeConfig, pdpConfig, startPdpProcess, type PdpProcess } from "./lib/pdp-server.js";
import { policyCopy } from "./lib/policy-dirs.js";
import { deleteKeys } from "./lib/redis-keys.js";
import { runRounds, spread, table, type Lane, type LaneResult } from "./lib/rounds.js";
import { ms } from "./lib/stats.js";

const { values: opt } = parseArgs({
  options: {
    compare: { type: "string" },
    rounds: { type: "string", default: "4" },
    duration: { type: "string", default: "5" },
    warmup: { type: "string", default: "1" },
    concurrency: { type: "string", default: "1,64" },
    stores: { type: "string", default: "memory,redis" },
    policies: { type: "string", default: "200" },
    connections: { type: "string", default: "4" },
    json: { type: "string" },
    "before-config": { type: "string" },
    "after-config": { type: "string" },
    "keep-worktree": { type: "boolean", default: false },
  },
});

const REF = opt.compare;
if (!REF) throw new Error("usage: npm run bench -- --compare <git-ref> [options] (see bench/compare.ts)");
const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const RUN = randomBytes(6).toString("hex");
const LEVELS = opt.concurrency.split(",").map(Number);
const STORES = opt.stores.split(",").map((s) => s.trim()) as ("memory" | "redis")[];
for (const s of STORES) if (s !== "memory" && s !== "redis") throw new Error(`--stores: memory and/or redis, not ${s}`);
const started = Date.now();
const progress = (msg: string) => process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${msg}\n`);
const loadavg = () => os.loadavg().map((x) => x.toFixed(2)).join(" ");
const git = (...args: string[]) => execFileSync("git", args, { cwd: packageRoot, encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] }).trim();

/** Build commands still running (each in its own process group, killed whole on exit). */
const running = new Set<ChildProcess>();
function killRunning(): void {
  for (const c of running) {
    try {
      process.kill(-c.pid!, "SIGKILL");
    } catch {
      // already gone
    }
  }
  running.clear();
}

/** Runs a command to completion with its output on stderr; rejects on a non-zero exit. */
function run(cmd: string, args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, stdio: ["ignore", process.stderr, process.stderr], detached: true });
    running.add(child);
    child.on("error", reject);
    child.on("exit", (code) => {
      running.delete(child);
      if (code === 0) resolve();
      else reject(new Error(`${cmd} ${args.join(" ")} (in ${cwd}) exited with ${code}`));
    });
  });
}

/** The temporary worktree, and its removal (idempotent, synchronous so it also runs on exit). */
let worktree: { root: string; dir: string } | undefined;
function removeWorktree(): void {
  killRunning();
  if (!worktree || opt["keep-worktree"]) return;
  const { root, dir } = worktree;
  worktree = undefined;
  try {
    execFileSync("git", ["worktree", "remove", "--force", dir], { cwd: packageRoot, stdio: "ignore" });
  } catch {
    // removed below
  }
  rmSync(root, { recursive: true, force: true });
  try {
    execFileSync("git", ["worktree", "prune"], { cwd: packageRoot, stdio: "ignore" });
  } catch {
    // nothing to prune
  }
}
process.once("exit", removeWorktree);
for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"] as const)
  process.once(signal, () => {
    progress(`${signal}: removing the temporary worktree`);
    removeWorktree();
    process.exit(130);
  });

/** Checks out and builds the ref; returns the tree's path. */
async function buildBefore(sha: string): Promise<string> {
  const root = mkdtempSync(path.join(os.tmpdir(), "mcp-pdp-before-"));
  const dir = path.join(root, "tree");
  worktree = { root, dir };
  progress(`git worktree add ${dir} ${sha.slice(0, 12)}`);
  git("worktree", "add", "--detach", dir, sha);
  progress("npm ci in the worktree (builds it)");
  await run("npm", ["ci", "--no-audit", "--no-fund"], dir);
  if (!existsSync(path.join(dir, "dist", "cli", "main.js"))) await run("npm", ["run", "-s", "build"], dir);
  if (!existsSync(path.join(dir, "bin", "mcp-pdp.js"))) throw new Error(`${REF} has no bin/mcp-pdp.js: too old for this comparison`);
  return dir;
}

const readPatch = (file: string | undefined): Record<string, unknown> => (file ? (JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>) : {});

interface Side {
  readonly name: "before" | "after";
  readonly root: string;
  readonly patch: Record<string, unknown>;
}

/** One row of the before/after table. */
interface Row {
  readonly store: string;
  readonly metric: string;
  readonly before: number;
  readonly after: number;
  readonly unit: "µs" | "ms" | "/s";
  readonly beforeRounds?: string;
  readonly afterRounds?: string;
}

async function main(): Promise<void> {
  const sha = git("rev-parse", "--verify", `${REF}^{commit}`);
  const head = git("rev-parse", "HEAD");
  const dirty = git("status", "--porcelain", "--untracked-files=no") !== "";
  const load0 = loadavg();
  progress(`before = ${REF} (${sha.slice(0, 12)}); after = this tree (HEAD ${head.slice(0, 12)}${dirty ? " + uncommitted changes" : ""}); load ${load0}`);
  const temps: string[] = [];
  const stops: (() => Promise<unknown>)[] = [];
  const closers: (() => void)[] = [];
  const prefixes: string[] = [];
  let results: LaneResult[] = [];
  try {
    const beforeRoot = await buildBefore(sha);
    progress("npm run build in this tree");
    await run("npm", ["run", "-s", "build"], packageRoot);
    const sides: Side[] = [
      { name: "before", root: beforeRoot, patch: readPatch(opt["before-config"]) },
      { name: "after", root: packageRoot, patch: readPatch(opt["after-config"]) },
    ];
    const count = Number(opt.policies);
    const work = mkdtempSync(path.join(os.tmpdir(), "mcp-pdp-compare-"));
    temps.push(work);
    const tokens = await laneTokens(Math.max(...LEVELS));
    const lanes: Lane[] = [];
    for (const store of STORES)
      for (const side of sides) {
        const { dir, total } = policyCopy(path.join(side.root, "cedar"), count, temps);
        const keyPrefix = `bench:${RUN}:${side.name}:`;
        if (store === "redis") prefixes.push(keyPrefix);
        const config = mergeConfig(pdpConfig({ cedarDir: dir, store, redisUrl: REDIS_URL, keyPrefix }), side.patch);
        const name = `${side.name} ${store}`;
        progress(`starting ${name} (${total} policies)`);
        let pdp: PdpProcess;
        try {
          pdp = await startPdpProcess(config, path.join(work, `${side.name}-${store}.json`), side.root);
        } catch (e) {
          throw new Error(`${name} did not start (if its config format differs, pass --${side.name}-config FILE): ${(e as Error).message}`);
        }
        stops.push(() => pdp.stop());
        const conns: Connections = connect(`127.0.0.1:${pdp.port}`, Number(opt.connections));
        closers.push(() => conns.close());
        const target = pdpTarget(conns, tokens);
        // Each side must answer the bench's task with ALLOW before it is measured.
        await requireAllow(target, name);
        lanes.push({ name, target, pid: pdp.child.pid! });
      }
    progress(`${opt.rounds} interleaved rounds at ${LEVELS.join(", ")} in flight (load ${loadavg()})`);
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
    for (const p of prefixes) await deleteKeys(REDIS_URL, p).catch((e: Error) => progress(`could not delete keys under ${p}: ${e.message}`));
    for (const d of temps) rmSync(d, { recursive: true, force: true });
    removeWorktree();
  }

  const load1 = loadavg();
  const rows: Row[] = [];
  const seq = Math.min(...LEVELS);
  const par = Math.max(...LEVELS);
  const get = (side: string, store: string, level: number) => results.find((r) => r.lane === `${side} ${store}` && r.inFlight === level)!;
  for (const store of STORES) {
    const [b1, a1, bp, ap] = [get("before", store, seq), get("after", store, seq), get("before", store, par), get("after", store, par)];
    const rounds = (r: LaneResult, f: (x: LaneResult["perRound"][number]) => number, d = 0) => spread(r.perRound.map(f), d);
    rows.push({ store, metric: `PDP CPU per decision, ${par} in flight`, before: bp.cpuUsPerDecision, after: ap.cpuUsPerDecision, unit: "µs", beforeRounds: rounds(bp, (x) => x.cpuUsPerDecision), afterRounds: rounds(ap, (x) => x.cpuUsPerDecision) });
    rows.push({ store, metric: `PDP CPU per decision, ${seq} in flight`, before: b1.cpuUsPerDecision, after: a1.cpuUsPerDecision, unit: "µs", beforeRounds: rounds(b1, (x) => x.cpuUsPerDecision), afterRounds: rounds(a1, (x) => x.cpuUsPerDecision) });
    rows.push({ store, metric: `Authorize p50, ${seq} in flight`, before: b1.authorize.p50, after: a1.authorize.p50, unit: "ms", beforeRounds: rounds(b1, (x) => x.p50, 2), afterRounds: rounds(a1, (x) => x.p50, 2) });
    rows.push({ store, metric: `Authorize p99, ${seq} in flight`, before: b1.authorize.p99, after: a1.authorize.p99, unit: "ms" });
    rows.push({ store, metric: `decisions/s, ${par} in flight`, before: bp.decisionsPerSecond, after: ap.decisionsPerSecond, unit: "/s", beforeRounds: rounds(bp, (x) => x.decisionsPerSecond), afterRounds: rounds(ap, (x) => x.decisionsPerSecond) });
  }
  const fmt = (x: number, unit: Row["unit"]) => (unit === "ms" ? ms(x) : unit === "µs" ? `${x.toFixed(0)}µs` : x.toFixed(0));
  console.log(`\nbefore = ${REF} (${sha.slice(0, 12)}), after = this tree (HEAD ${head.slice(0, 12)}${dirty ? " + uncommitted changes" : ""})`);
  console.log(
    `${os.availableParallelism()} cores (${os.cpus()[0]?.model ?? "?"}), node ${process.version}; load average (1/5/15 min) ${load0} → ${load1}; ` +
      `${opt.rounds} interleaved rounds, ${opt.duration} s per side and level after ${opt.warmup} s warm-up; ${opt.policies} policies; ${opt.connections} connections\n`,
  );
  table(
    ["store", "metric", "before", "after", "after/before", "before (rounds)", "after (rounds)"],
    rows.map((r) => [r.store, r.metric, fmt(r.before, r.unit), fmt(r.after, r.unit), `${(r.after / r.before).toFixed(2)}×`, r.beforeRounds ?? "", r.afterRounds ?? ""]),
  );
  const unexpected = results.filter((r) => Object.keys(r.unexpected).length);
  for (const r of unexpected) console.log(`${r.lane} ×${r.inFlight}: answers other than ALLOW ${JSON.stringify(r.unexpected)}`);
  if (opt.json)
    writeFileSync(opt.json, JSON.stringify({ before: { ref: REF, sha }, after: { head, dirty }, loadavgStart: load0, loadavgEnd: load1, options: opt, rows, results }, null, 2));
}

await main();
