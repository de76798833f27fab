#!/usr/bin/env node
// Runs every test (or the files/folders given) with node's test runner, against a real Redis.
// Redis: REDIS_URL (default redis://127.0.0.1:6379). When none answers, starts `redis-server`
// from PATH on a free port for this run, or fails saying how to get one. Never skips silently.
import { spawn, spawnSync } from "node:child_process";
import { readdirSync, statSync } from "node:fs";
import net from "node:net";
import path from "node:path";

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");

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

const targets = process.argv.slice(2);
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
const child = spawn(
  process.execPath,
  ["--no-turbo-inline-js-wasm-calls", "--import", "tsx", "--test", "--test-concurrency=2", ...files],
  { stdio: "inherit", env: { ...process.env, REDIS_URL: redis.url }, cwd: root },
);
child.on("exit", (code, signal) => {
  redis.stop();
  process.exit(code ?? (signal ? 1 : 0));
});
