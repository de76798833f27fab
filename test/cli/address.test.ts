/**
 * One address setting for every client command: --address, else MCP_PDP_ADDRESS, else the port
 * the PDP is configured with (MCP_PDP_PORT / the config file), else 127.0.0.1:50051; and a plain
 * sentence when no PDP answers there. Drives the real bin/mcp-pdp.js against a real PDP.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, test } from "node:test";
import { defaultAddress } from "../../src/config/client-address.js";
import { startTestPdp, type TestPdp } from "../support/pdp.js";
import { assertBuilt, cli, freePort } from "./run-cli.js";

let pdp: TestPdp;
let port: number;
let dead: number;
const temp = mkdtempSync(path.join(tmpdir(), "mcp-pdp-cli-address-"));

before(async () => {
  assertBuilt();
  pdp = await startTestPdp();
  port = pdp.app.port;
  dead = await freePort();
});
after(async () => {
  rmSync(temp, { recursive: true, force: true });
  await pdp?.close();
});

const noPdp = (address: string) => `mcp-pdp: no PDP answers at ${address} — start one with \`npm start\`, or pass --address\n`;

test("the default address: MCP_PDP_PORT, the config file's port, else 127.0.0.1:50051", () => {
  assert.equal(defaultAddress({}), "127.0.0.1:50051");
  assert.equal(defaultAddress({ MCP_PDP_PORT: "6123" }), "127.0.0.1:6123");
  assert.equal(defaultAddress({ MCP_PDP_HOST: "::1", MCP_PDP_PORT: "6123" }), "[::1]:6123");
  const file = path.join(temp, "port.json");
  writeFileSync(file, JSON.stringify({ port: 6124 }));
  assert.equal(defaultAddress({ MCP_PDP_CONFIG: file }), "127.0.0.1:6124");
  assert.equal(defaultAddress({ MCP_PDP_CONFIG: file, MCP_PDP_PORT: "6125" }), "127.0.0.1:6125");
  writeFileSync(file, JSON.stringify({ mode: "production", host: "0.0.0.0", port: 6126, allowPlaintext: true }));
  // A wildcard listen address is dialled on loopback; the rest of the file is not the CLI's business.
  assert.equal(defaultAddress({ MCP_PDP_CONFIG: file }), "127.0.0.1:6126");
});

test("every client command honours MCP_PDP_ADDRESS", { timeout: 600_000 }, async () => {
  const env = { MCP_PDP_ADDRESS: pdp.address };
  const opened = await cli(["session", "open", "--dev", "--tool", "search_documents", "--json"], { env });
  assert.equal(opened.code, 0, opened.err);
  const { sessionId } = JSON.parse(opened.out) as { sessionId: string };
  const runs: [string[], RegExp][] = [
    [["session", "get", sessionId, "--json"], /"grantedTools":\["search_documents"\]/],
    [["check", "--dev", "--session", sessionId, "--tool", "search_documents"], /^ALLOW {2}ALLOWED/m],
    [["approvals", "list"], /^0 approval\(s\)$/m],
    [["audit", "query", "--session", sessionId, "--json"], /"kind":"open_session"/],
    [["session", "end", sessionId], /^session ended$/m],
    [["revoke", "--session", sessionId], /^revoked session /m],
  ];
  for (const [args, expected] of runs) {
    const r = await cli(args, { env });
    assert.equal(r.code, 0, `${args.join(" ")}: ${r.err}`);
    assert.match(r.out, expected, args.join(" "));
  }
});

test("without an address the CLI dials the configured port: MCP_PDP_PORT or the config file", { timeout: 300_000 }, async () => {
  const viaPort = await cli(["check", "--dev", "--tool", "search_documents"], { env: { MCP_PDP_PORT: String(port) } });
  assert.equal(viaPort.code, 0, viaPort.err);
  const file = path.join(temp, "pdp.json");
  writeFileSync(file, JSON.stringify({ port }));
  const viaFile = await cli(["check", "--dev", "--tool", "search_documents"], { env: { MCP_PDP_CONFIG: file } });
  assert.equal(viaFile.code, 0, viaFile.err);
  const bad = await cli(["check", "--dev", "--tool", "search_documents"], { env: { MCP_PDP_PORT: "fifty" } });
  assert.equal(bad.code, 2);
  assert.match(bad.err, /config: port must be an integer/);
  assert.match(bad.err, /--address/);
});

test("--address wins over MCP_PDP_ADDRESS", { timeout: 300_000 }, async () => {
  const flag = await cli(["check", "--dev", "--tool", "search_documents", "--address", pdp.address], { env: { MCP_PDP_ADDRESS: `127.0.0.1:${dead}` } });
  assert.equal(flag.code, 0, flag.err);
  const env = await cli(["approvals", "list", "--address", `127.0.0.1:${dead}`], { env: { MCP_PDP_ADDRESS: pdp.address } });
  assert.equal(env.code, 1);
  assert.equal(env.err, noPdp(`127.0.0.1:${dead}`));
});

test("no PDP at the address: one sentence naming it, exit 1, from every client command", { timeout: 600_000 }, async () => {
  const address = `127.0.0.1:${dead}`;
  const commands = [
    ["check", "--dev", "--tool", "search_documents"],
    ["check", "--dev", "--no-session", "--tool", "search_documents"],
    ["session", "open", "--dev", "--tool", "search_documents"],
    ["session", "get", "some-id"],
    ["session", "end", "some-id"],
    ["revoke", "--session", "some-id"],
    ["approvals", "list"],
    ["approvals", "approve", "some-id", "--dev-approver", "bob"],
    ["audit", "query"],
    ["audit", "tail"],
    ["audit", "get", "some-id"],
    ["audit", "verify"],
  ];
  for (const args of commands) {
    const r = await cli(args, { env: { MCP_PDP_ADDRESS: address } });
    assert.equal(r.code, 1, `${args.join(" ")}: ${r.err}`);
    assert.equal(r.err, noPdp(address), args.join(" "));
    assert.equal(r.out, "", args.join(" "));
  }
  const viaPort = await cli(["approvals", "list"], { env: { MCP_PDP_PORT: String(dead) } });
  assert.equal(viaPort.err, noPdp(address));
  const dns = await cli(["check", "--dev", "--tool", "search_documents", "--address", "no-such-host.invalid:50051"]);
  assert.equal(dns.code, 1);
  assert.equal(dns.err, noPdp("no-such-host.invalid:50051"));
});

test("an address that is not HOST:PORT is a usage error naming where it came from", { timeout: 300_000 }, async () => {
  const flag = await cli(["approvals", "list", "--address", "127.0.0.1"]);
  assert.equal(flag.code, 2, flag.err);
  assert.equal(flag.err, 'mcp-pdp: --address must be HOST:PORT, e.g. 127.0.0.1:50051 (got "127.0.0.1")\n');
  const env = await cli(["audit", "query"], { env: { MCP_PDP_ADDRESS: "127.0.0.1:" } });
  assert.equal(env.code, 2, env.err);
  assert.match(env.err, /MCP_PDP_ADDRESS must be HOST:PORT/);
});
