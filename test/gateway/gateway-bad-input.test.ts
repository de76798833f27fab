/**
 * Bad input at the gateway: each a clean HTTP/JSON-RPC error, nothing unchecked reaches the
 * upstream, and the gateway keeps answering. Also an upstream that writes garbage.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { startGatewayStack, type GatewayStack } from "./support/gateway-stack.js";

const ACCEPT = "application/json, text/event-stream";

/** A stdio "server" that writes garbage lines and never speaks MCP. */
const GARBAGE = ["-e", "setInterval(() => process.stdout.write('garbage {not json\\n'), 20)"];

describe("gateway: bad input", { timeout: 90_000 }, () => {
  let stack: GatewayStack;
  let token: string;
  before(async () => {
    const { EVERYTHING } = await import("./support/gateway-stack.js");
    stack = await startGatewayStack({ command: process.execPath, args: [EVERYTHING, "stdio"] }, { maxBodyBytes: 64 * 1024 });
    token = await stack.userToken();
  });
  after(() => stack?.close());

  const post = (body: string, headers: Record<string, string> = {}) =>
    fetch(stack.gateway.url, { method: "POST", headers: { "content-type": "application/json", accept: ACCEPT, authorization: `Bearer ${token}`, ...headers }, body });

  /** The JSON-RPC answers in a response (JSON or SSE). */
  const answers = async (res: Response): Promise<{ id?: unknown; result?: any; error?: { code: number; message: string } }[]> => {
    const text = await res.text();
    if ((res.headers.get("content-type") ?? "").includes("text/event-stream"))
      return text.split("\n").filter((l) => l.startsWith("data: ")).map((l) => JSON.parse(l.slice(6)));
    const parsed = JSON.parse(text);
    return Array.isArray(parsed) ? parsed : [parsed];
  };

  test("malformed JSON → 400 Parse error", async () => {
    const res = await post("{not json");
    assert.equal(res.status, 400);
    assert.equal((await answers(res))[0]!.error!.code, -32700);
  });

  test("a body over maxBodyBytes → 413", async () => {
    const res = await post(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "echo", arguments: { message: "x".repeat(100 * 1024) } } }));
    assert.equal(res.status, 413);
  });

  test("a wrong content type → 415 (the SDK transport refuses it)", async () => {
    const res = await post(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }), { "content-type": "text/plain" });
    assert.equal(res.status, 415);
  });

  test("an unknown method → JSON-RPC -32601", async () => {
    const res = await post(JSON.stringify({ jsonrpc: "2.0", id: 7, method: "tools/explode", params: {} }));
    const [answer] = await answers(res);
    assert.equal(answer!.error!.code, -32601);
  });

  test("not JSON-RPC at all → a JSON-RPC error, not a crash", async () => {
    const res = await post(JSON.stringify({ hello: "world" }));
    assert.ok(res.status >= 400 && res.status < 500, String(res.status));
  });

  test("a batch cannot smuggle a denied call past the guard", async () => {
    const batch = [
      { jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "echo", arguments: { message: "ok" } } },
      { jsonrpc: "2.0", id: 2, method: "tools/call", params: { name: "get-env", arguments: {} } },
    ];
    const res = await post(JSON.stringify(batch));
    assert.equal(res.status, 200, "the SDK transport accepts a batch; each request is guarded on its own");
    const byId = new Map((await answers(res)).map((a) => [a.id, a]));
    assert.deepEqual(byId.get(1)!.result?.content, [{ type: "text", text: "Echo: ok" }]);
    const denied = byId.get(2)!;
    assert.equal(denied.result?.isError, true);
    assert.match(denied.result.content[0].text, /^DENY TOOL_NOT_GRANTED/);
    assert.ok(!JSON.stringify(denied).includes("PATH"), "get-env never ran");
  });

  test("after all that the gateway still answers", async () => {
    const client = await stack.connect(token);
    await client.ping();
    assert.deepEqual((await client.listTools()).tools.map((t) => t.name).sort(), ["echo", "get-sum", "get-tiny-image", "trigger-long-running-operation"]);
  });
});

describe("gateway: an upstream that writes garbage", { timeout: 60_000 }, () => {
  test("requests fail with a clean 503 'not connected'; the gateway stays up", async () => {
    const stack = await startGatewayStack({ command: process.execPath, args: GARBAGE, connectTimeoutMs: 500 });
    try {
      const token = await stack.userToken();
      const res = await fetch(stack.gateway.url, {
        method: "POST",
        headers: { "content-type": "application/json", accept: ACCEPT, authorization: `Bearer ${token}` },
        body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "initialize", params: { protocolVersion: "2025-06-18", capabilities: {}, clientInfo: { name: "t", version: "1" } } }),
      });
      assert.equal(res.status, 503);
      const body = (await res.json()) as { error: { code: number; message: string } };
      assert.equal(body.error.code, -32002);
      assert.match(body.error.message, /upstream MCP server is not connected/);
      const meta = await fetch(new URL("/.well-known/oauth-protected-resource", stack.gateway.url));
      assert.equal(meta.status, 200, "the gateway still serves");
    } finally {
      await stack.close();
    }
  });
});
