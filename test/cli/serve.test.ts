/**
 * `mcp-pdp serve` as an operator runs it: --host/--port/--config honoured, an invalid log level
 * reported as a config error naming the setting, and the operational log human-readable on a
 * terminal, JSON otherwise. Drives the real bin/mcp-pdp.js.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { assertBuilt, BIN, cli, cliEnv, freePort, startCli } from "./run-cli.js";

const temp = mkdtempSync(path.join(tmpdir(), "mcp-pdp-cli-serve-"));
before(assertBuilt);
after(() => rmSync(temp, { recursive: true, force: true }));

const QUIET = { MCP_PDP_DECISION_LOG: "off", MCP_PDP_HTTP_PORT: "0" };

test("serve --port: listens there (JSON log when stderr is not a terminal), and the CLI reaches it", { timeout: 300_000 }, async () => {
  const port = await freePort();
  const pdp = startCli(["serve", "--port", String(port)], { env: QUIET });
  try {
    const [line] = await pdp.waitFor(/^.*"msg":"mcp-pdp serving".*$/m, 120_000);
    const serving = JSON.parse(line) as { port: number; host: string; level: number };
    assert.equal(serving.port, port);
    assert.equal(serving.host, "127.0.0.1");
    for (const l of pdp.err().trim().split("\n")) assert.doesNotThrow(() => JSON.parse(l), `not JSON: ${l}`);
    const r = await cli(["check", "--dev", "--tool", "search_documents"], { env: { MCP_PDP_ADDRESS: `127.0.0.1:${port}` } });
    assert.equal(r.code, 0, r.err);
  } finally {
    await pdp.stop();
  }
});

test("serve --http-port: AuthZEN listens there (wins over MCP_PDP_HTTP_PORT) and answers its metadata", { timeout: 300_000 }, async () => {
  const httpPort = await freePort();
  const pdp = startCli(["serve", "--port", "0", "--http-port", String(httpPort)], { env: { ...QUIET, MCP_PDP_HTTP_PORT: "1" } });
  try {
    const [line] = await pdp.waitFor(/^.*"msg":"mcp-pdp serving".*$/m, 120_000);
    assert.equal((JSON.parse(line) as { httpPort: number }).httpPort, httpPort);
    const res = await fetch(`http://127.0.0.1:${httpPort}/.well-known/authzen-configuration`, { signal: AbortSignal.timeout(30_000) });
    assert.equal(res.status, 200);
    const meta = (await res.json()) as Record<string, string>;
    assert.equal(meta.access_evaluation_endpoint, `http://127.0.0.1:${httpPort}/access/v1/evaluation`);
  } finally {
    await pdp.stop();
  }
});

test("serve --config FILE takes the file; --host/--port win over it and over MCP_PDP_PORT", { timeout: 300_000 }, async () => {
  const [filePort, flagPort] = [await freePort(), await freePort()];
  const file = path.join(temp, "pdp.json");
  writeFileSync(file, JSON.stringify({ port: filePort, logLevel: "debug" }));
  const fromFile = startCli(["serve", "--config", file], { env: QUIET });
  try {
    const [line] = await fromFile.waitFor(/^.*"msg":"mcp-pdp serving".*$/m, 120_000);
    assert.equal((JSON.parse(line) as { port: number }).port, filePort);
  } finally {
    await fromFile.stop();
  }
  const flags = startCli(["serve", "--config", file, "--host", "127.0.0.2", "--port", String(flagPort)], { env: { ...QUIET, MCP_PDP_PORT: String(filePort) } });
  try {
    const [line] = await flags.waitFor(/^.*"msg":"mcp-pdp serving".*$/m, 120_000);
    const serving = JSON.parse(line) as { port: number; host: string };
    assert.equal(serving.port, flagPort);
    assert.equal(serving.host, "127.0.0.2");
  } finally {
    await flags.stop();
  }
});

test("serve: configuration errors exit 2 naming the setting", { timeout: 300_000 }, async () => {
  const env = await cli(["serve"], { env: { ...QUIET, MCP_PDP_LOG_LEVEL: "verbose", MCP_PDP_PORT: "0" } });
  assert.equal(env.code, 2, env.err);
  assert.equal(env.out, "");
  assert.equal(env.err, 'mcp-pdp: config: logLevel: expected one of "fatal", "error", "warn", "info", "debug", "trace", "silent", got "verbose" (from MCP_PDP_LOG_LEVEL)\n');
  const file = path.join(temp, "loud.json");
  writeFileSync(file, JSON.stringify({ port: 0, logLevel: "loud" }));
  const fromFile = await cli(["serve", "--config", file], { env: QUIET });
  assert.equal(fromFile.code, 2, fromFile.err);
  assert.match(fromFile.err, /logLevel: expected one of .*, got "loud" \(in .*loud\.json\)\n$/);
  const host = await cli(["serve", "--host", "0.0.0.0", "--port", "0"], { env: QUIET });
  assert.equal(host.code, 2, host.err);
  assert.match(host.err, /development mode listens on loopback only/);
  const missing = await cli(["serve", "--config", path.join(temp, "nope.json")], { env: QUIET });
  assert.equal(missing.code, 2);
  assert.match(missing.err, /cannot read .*nope\.json/);
});

test("serve on a terminal: the operational log is human-readable (pino-pretty)", { timeout: 300_000 }, async (t) => {
  // `script` (util-linux) gives the PDP a pseudo-terminal for stdout and stderr.
  const hasScript = await new Promise<boolean>((resolve) => spawn("script", ["--version"], { stdio: "ignore" }).on("error", () => resolve(false)).on("exit", (c) => resolve(c === 0)));
  if (!hasScript) return t.skip("needs `script` from util-linux for a pseudo-terminal");
  const port = await freePort();
  // `script` runs the command in a new session on the pseudo-terminal, outside its own process
  // group, and the PDP takes SIGHUP as "reload policies": so the PDP says its pid (the shell's,
  // which `exec` hands over) and the test stops it by that pid.
  const command = `echo PDPPID=$$; exec ${JSON.stringify(process.execPath)} ${JSON.stringify(BIN)} serve --port ${port}`;
  const child = spawn("script", ["-qefc", command, "/dev/null"], { env: cliEnv({ ...QUIET, TERM: "dumb", SHELL: "/bin/sh" }), stdio: ["pipe", "pipe", "pipe"], detached: true });
  let out = "";
  child.stdout.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr.on("data", (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.on("close", () => resolve()));
  const kill = (pid: number | undefined, signal: NodeJS.Signals) => {
    try {
      if (pid) process.kill(pid, signal);
    } catch {
      /* already gone */
    }
  };
  try {
    const deadline = Date.now() + 120_000;
    while (!/mcp-pdp serving/.test(out) && Date.now() < deadline) {
      if (child.exitCode !== null) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    const plain = out.replace(/\x1b\[[0-9;]*m/g, "");
    assert.match(plain, /INFO.*mcp-pdp serving/, plain);
    assert.match(plain, new RegExp(`port: ${port}`), plain);
    assert.doesNotMatch(plain, /^\{"level"/m, plain);
  } finally {
    const pdpPid = Number(/PDPPID=(\d+)/.exec(out)?.[1]) || undefined;
    kill(pdpPid, "SIGTERM");
    const timer = setTimeout(() => {
      kill(pdpPid, "SIGKILL");
      kill(-child.pid!, "SIGKILL");
    }, 10_000);
    await exited; // `script` exits once the PDP has
    clearTimeout(timer);
  }
});
