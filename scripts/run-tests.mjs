#!/usr/bin/env node
// Runs every test (or the files/folders given) with node's test runner, against a real Redis.
// Redis: REDIS_URL (default redis://127.0.0.1:6379). When none answers, starts `redis-server`
// from PATH on a free port for this run, or fails saying how to get one. Never skips silently.
//
// The run cannot hang: each test file must finish within MCP_PDP_TEST_TIMEOUT_MS (default 6 min;
// node's --test-timeout, which bounds a whole file when files run in their own processes); a file
// that leaves a handle open is ended once its tests are done (--test-force-exit); and the whole run
// is stopped after MCP_PDP_TEST_DEADLINE_MS (default 12 min, 30 min with --burn) with a message
// and exit status 1.
//
// `--burn N` (or MCP_PDP_TEST_BURN=N): N busy processes keep N cores saturated for the whole run,
// stopped with it — the "tests pass with both cores busy" check.
import { spawn, spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");

const loadavg = () => os.loadavg().map((x) => x.toFixed(2)).join(" ");

function findTests(target) {
  const abs = path.resolve(root, target);
  if (statSync(abs).isFile()) return [abs];
  const out = [];
  for (const entry of readdirSync(abs, { withFileTypes: true })) {
    const p = path.join(abs, entry.name);
    if (entry.isDirectory()) out.push(...findTests(p));
    else if (entry.name.endsWith(".test.ts")) out.push(p);
  }
  return out.sort();
}

function ping(host, port) {
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    let buf = "";
    const done = (ok) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(1000, () => done(false));
    sock.on("error", () => done(false));
    sock.on("connect", () => sock.write("PING\r\n"));
    sock.on("data", (d) => {
      buf += d;
      if (buf.includes("\r\n")) done(buf.startsWith("+PONG"));
    });
  });
}

function freePort() {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
    srv.on("error", reject);
  });
}

async function ensureRedis() {
  const url = new URL(process.env.REDIS_URL ?? "redis://127.0.0.1:6379");
  if (await ping(url.hostname, Number(url.port || 6379))) return { url: url.toString(), stop: () => {} };
  const port = await freePort();
  const child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
    stdio: "ignore",
  });
  const failed = new Promise((resolve) => child.on("error", resolve));
  for (let i = 0; i < 50; i++) {
    const err = await Promise.race([failed, new Promise((r) => setTimeout(() => r(null), 100))]);
    if (err) break;
    if (await ping("127.0.0.1", port)) {
      console.log(`run-tests: no Redis at ${url}; started redis-server on 127.0.0.1:${port} for this run`);
      return { url: `redis://127.0.0.1:${port}`, stop: () => child.kill("SIGTERM") };
    }
  }
  child.kill("SIGKILL");
  console.error(
    `run-tests: no Redis answers at ${url} and no redis-server could be started from PATH.\n` +
      "Start one (e.g. `apt-get install redis-server && redis-server --daemonize yes`) or set REDIS_URL.",
  );
  process.exit(2);
}

const TEST_TIMEOUT_MS = Number(process.env.MCP_PDP_TEST_TIMEOUT_MS ?? 6 * 60_000);

const args = process.argv.slice(2);
let burn = Number(process.env.MCP_PDP_TEST_BURN ?? 0);
const burnAt = args.indexOf("--burn");
if (burnAt >= 0) {
  burn = Number(args[burnAt + 1]);
  args.splice(burnAt, 2);
}
if (!Number.isInteger(burn) || burn < 0 || burn > 64) {
  console.error("run-tests: --burn takes a number of busy processes (0-64)");
  process.exit(2);
}
const targets = args;
// A saturated machine runs the same work about twice as slowly: its run gets more time.
const RUN_DEADLINE_MS = Number(process.env.MCP_PDP_TEST_DEADLINE_MS ?? (burn > 0 ? 30 : 12) * 60_000);
const files = (targets.length ? targets : ["test"]).flatMap(findTests);
if (files.length === 0) {
  console.error("run-tests: no test files found");
  process.exit(2);
}
// The CLI tests drive bin/mcp-pdp.js, which runs the compiled dist/: bring it up to date first
// (incremental, and at once when nothing changed).
const build = spawnSync(process.execPath, [path.join(root, "scripts", "build-if-stale.mjs")], { cwd: root, stdio: "inherit" });
if (build.status !== 0) {
  console.error("run-tests: the build failed; the CLI tests need dist/");
  process.exit(2);
}
const redis = await ensureRedis();
// Busy loops, each a child that also ends by itself after the deadline should this process die.
const burners = Array.from({ length: burn }, () =>
  spawn(process.execPath, ["-e", `const end = Date.now() + ${RUN_DEADLINE_MS}; while (Date.now() < end);`], { stdio: "ignore" }),
);
if (burn > 0) console.log(`run-tests: ${burn} busy process(es) keep the cores saturated during the run`);
const started = Date.now();
const child = spawn(
  process.execPath,
  [
    "--no-turbo-inline-js-wasm-calls",
    "--import",
    "tsx",
    "--test",
    "--test-concurrency=2",
    `--test-timeout=${TEST_TIMEOUT_MS}`,
    "--test-force-exit",
    ...files,
  ],
  { stdio: "inherit", env: { ...process.env, REDIS_URL: redis.url }, cwd: root, detached: true },
);
const stopAll = () => {
  for (const b of burners) b.kill("SIGKILL");
  redis.stop();
};
const watchdog = setTimeout(() => {
  console.error(`run-tests: the run exceeded ${(RUN_DEADLINE_MS / 1000).toFixed(0)} s; stopping it (a test hangs — see the last lines above)`);
  try {
    process.kill(-child.pid, "SIGKILL"); // the runner and every test file it started
  } catch {}
  stopAll();
  process.exit(1);
}, RUN_DEADLINE_MS);
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, () => {
    try {
      process.kill(-child.pid, "SIGKILL");
    } catch {}
    stopAll();
    process.exit(130);
  });
}
child.on("exit", (code, signal) => {
  clearTimeout(watchdog);
  stopAll();
  console.log(`run-tests: ${files.length} file(s) in ${((Date.now() - started) / 1000).toFixed(0)} s${burn ? ` with ${burn} busy process(es)` : ""}, load ${loadavg()}`);
  process.exit(code ?? (signal ? 1 : 0));
});
