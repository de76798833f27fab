/**
 * `mcp-pdp gateway` as a user runs it (bin/mcp-pdp.js), against a PDP with the bundled cedar/ —
 * the README's demo: server-everything behind the gateway, resource http://127.0.0.1:8080/mcp.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { mintDevToken } from "../../src/identity/dev-issuer.js";
import { assertBuilt, cli, startCli } from "../cli/run-cli.js";
import { startTestPdp } from "../support/pdp.js";
import { EVERYTHING } from "./support/gateway-stack.js";

const DEMO = "http://127.0.0.1:8080/mcp";

test("mcp-pdp gateway without an upstream is a usage error (exit 2)", { timeout: 120_000 }, async () => {
  assertBuilt();
  const run = await cli(["gateway"]);
  assert.equal(run.code, 2);
  assert.match(run.err, /--upstream-command/);
});

test("the README demo: the bundled policies allow echo and get-sum through the gateway, and refuse get-env", { timeout: 120_000 }, async () => {
  assertBuilt();
  const pdp = await startTestPdp();
  const gateway = startCli(["gateway", "--upstream-command", `"${process.execPath}" "${EVERYTHING}" stdio`, "--port", "0", "--pdp", pdp.address, "--resource", DEMO, "--log-level", "warn"]);
  const client = new Client({ name: "stock-client", version: "1.0.0" });
  try {
    const [, url] = await gateway.waitFor(/mcp-pdp gateway: (http:\/\/\S+)/);
    const token = await mintDevToken("user", { audience: DEMO });
    await client.connect(new StreamableHTTPClientTransport(new URL(url!), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
    assert.deepEqual((await client.listTools()).tools.map((t) => t.name).sort(), ["echo", "get-sum"]);
    const allowed = (await client.callTool({ name: "echo", arguments: { message: "hi" } })) as CallToolResult;
    assert.deepEqual(allowed.content, [{ type: "text", text: "Echo: hi" }]);
    const denied = (await client.callTool({ name: "get-env", arguments: {} })) as CallToolResult;
    assert.equal(denied.isError, true);
    assert.match((denied.content[0] as { text: string }).text, /^DENY TOOL_NOT_GRANTED/);
  } finally {
    await client.close().catch(() => {});
    await gateway.stop();
    await pdp.close();
  }
  assert.equal(await gateway.exited, 0, "SIGTERM stops it cleanly");
});
