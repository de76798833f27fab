/**
 * The gateway in front of `@modelcontextprotocol/server-everything` (stdio, from npm), driven by
 * the official SDK client that sends only a bearer token, deciding through a real PDP.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { META_DECISION, type PepDecision } from "../../src/pep/index.js";
import { EVERYTHING, RESOURCE, startGatewayStack, type GatewayStack } from "./support/gateway-stack.js";

const decisionOf = (r: { _meta?: Record<string, unknown> }) => r._meta?.[META_DECISION] as PepDecision | undefined;

describe("gateway in front of server-everything (stdio)", { timeout: 120_000 }, () => {
  let stack: GatewayStack;
  before(async () => {
    stack = await startGatewayStack({ command: process.execPath, args: [EVERYTHING, "stdio"] });
  });
  after(() => stack?.close());

  test("tools/list shows exactly the tools policy permits (get-tiny-image needs a step-up scope, so it is listed)", async () => {
    const client = await stack.connect();
    const { tools } = await client.listTools();
    assert.deepEqual(tools.map((t) => t.name).sort(), ["echo", "get-sum", "get-tiny-image", "trigger-long-running-operation"]);
  });

  test("an allowed call is relayed and returns the upstream's result with the decision", async () => {
    const client = await stack.connect();
    const result = (await client.callTool({ name: "echo", arguments: { message: "through the gateway" } })) as CallToolResult;
    assert.equal(result.isError, undefined);
    assert.deepEqual(result.content, [{ type: "text", text: "Echo: through the gateway" }]);
    assert.equal(decisionOf(result)?.decision, "ALLOW");
    assert.deepEqual(decisionOf(result)?.reasons.map((r) => r.policyId), ["tool-allowlist-research"]);
    const sum = (await client.callTool({ name: "get-sum", arguments: { a: 2, b: 3 } })) as CallToolResult;
    assert.match((sum.content[0] as { text: string }).text, /5/);
  });

  test("a denied call returns isError with the PDP's reason code and message, not 'tool not found'", async () => {
    const client = await stack.connect();
    const result = (await client.callTool({ name: "get-env", arguments: {} })) as CallToolResult;
    assert.equal(result.isError, true);
    const text = (result.content[0] as { text: string }).text;
    assert.match(text, /^DENY TOOL_NOT_GRANTED/);
    assert.match(text, /refused when the task session opened: NO_PERMIT/);
    assert.doesNotMatch(text, /not found/i);
    assert.equal(decisionOf(result)?.reasonCode, "TOOL_NOT_GRANTED");
    assert.ok(!text.includes("PATH="), "the upstream never ran get-env");
  });

  test("resources/list and prompts/list are filtered to what the session was granted (none here)", async () => {
    const client = await stack.connect();
    assert.deepEqual((await client.listResources()).resources, []);
    assert.deepEqual((await client.listPrompts()).prompts, []);
    await assert.rejects(client.readResource({ uri: "demo://resource/static/document/architecture.md" }), (err: Error & { code?: number }) => {
      assert.equal(err.code, -32003);
      assert.match(err.message, /DENY/);
      return true;
    });
  });

  test("everything else is relayed: ping, completion, logging/setLevel", async () => {
    const client = await stack.connect();
    await client.ping();
    await client.setLoggingLevel("info");
    const completion = await client.complete({ ref: { type: "ref/prompt", name: "completable-prompt" }, argument: { name: "department", value: "E" } });
    assert.ok(Array.isArray(completion.completion.values));
  });

  test("step-up: a tool that needs a scope the token lacks is HTTP 403 insufficient_scope naming it; with the scope it runs", async () => {
    const res = await fetch(stack.gateway.url, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream", authorization: `Bearer ${await stack.userToken()}` },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "get-tiny-image", arguments: {} } }),
    });
    assert.equal(res.status, 403);
    assert.equal(
      res.headers.get("www-authenticate"),
      'Bearer error="insufficient_scope", scope="images.read", resource_metadata="https://everything.example/.well-known/oauth-protected-resource/mcp", error_description="the access token lacks a scope this call needs"',
    );
    const client = await stack.connect(await stack.userToken({ scopes: ["images.read"] }));
    const result = (await client.callTool({ name: "get-tiny-image", arguments: {} })) as CallToolResult;
    assert.equal(result.isError, undefined);
    assert.ok(result.content.some((c) => c.type === "image"));
  });

  test("progress is relayed under the client's own token; a cancelled call is cancelled and the gateway goes on", async () => {
    const client = await stack.connect();
    const progress: number[] = [];
    const result = (await client.callTool({ name: "trigger-long-running-operation", arguments: { duration: 1, steps: 3 } }, undefined, {
      onprogress: (p) => progress.push(p.progress),
    })) as CallToolResult;
    assert.match((result.content[0] as { text: string }).text, /Long running operation completed/);
    assert.ok(progress.length >= 1, `progress relayed (${progress.join(",")})`);
    assert.deepEqual(progress, [...progress].sort((a, b) => a - b));

    const abort = new AbortController();
    const cancelled = client.callTool({ name: "trigger-long-running-operation", arguments: { duration: 20, steps: 20 } }, undefined, {
      signal: abort.signal,
      onprogress: () => abort.abort("enough"),
    });
    await assert.rejects(cancelled);
    await client.ping();
  });

  test("the protected-resource metadata (RFC 9728) names the resource, at both well-known paths", async () => {
    for (const p of ["/.well-known/oauth-protected-resource", "/.well-known/oauth-protected-resource/mcp"]) {
      const res = await fetch(new URL(p, stack.gateway.url));
      assert.equal(res.status, 200, p);
      const body = (await res.json()) as { resource: string; authorization_servers: string[]; bearer_methods_supported: string[] };
      assert.equal(body.resource, RESOURCE);
      assert.deepEqual(body.authorization_servers, ["https://dev-issuer.mcp-pdp.invalid"]);
      assert.deepEqual(body.bearer_methods_supported, ["header"]);
    }
    assert.equal(stack.gateway.resourceMetadataUrl, "https://everything.example/.well-known/oauth-protected-resource/mcp");
  });

  test("no token → 401 with WWW-Authenticate naming resource_metadata; a bad token → 401 invalid_token", async () => {
    const init = { method: "POST", headers: { "content-type": "application/json", accept: "application/json, text/event-stream" }, body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/list" }) };
    const none = await fetch(stack.gateway.url, init);
    assert.equal(none.status, 401);
    assert.equal(none.headers.get("www-authenticate"), `Bearer resource_metadata="${stack.gateway.resourceMetadataUrl}"`);
    const wrongAudience = await stack.userToken({ audience: "https://other.example/mcp" });
    for (const token of ["not-a-jwt", wrongAudience]) {
      const res = await fetch(stack.gateway.url, { ...init, headers: { ...init.headers, authorization: `Bearer ${token}` } });
      assert.equal(res.status, 401, token.slice(0, 10));
      const challenge = res.headers.get("www-authenticate") ?? "";
      assert.match(challenge, /^Bearer error="invalid_token", /);
      assert.match(challenge, /resource_metadata="https:\/\/everything\.example\/\.well-known\/oauth-protected-resource\/mcp"/);
    }
    // The SDK client sees the same 401 (it would start its OAuth flow from the metadata).
    await assert.rejects(stack.connect("not-a-jwt"), (err: Error & { code?: number }) => {
      assert.equal(err.code, 401);
      assert.match(err.message, /TOKEN_INVALID/);
      return true;
    });
  });

  test("DNS rebinding: a foreign Host or Origin is refused before anything else", async () => {
    const token = await stack.userToken();
    const init = {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream", authorization: `Bearer ${token}` },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }),
    };
    const { request } = await import("node:http");
    const post = (headers: Record<string, string>) =>
      new Promise<number>((resolve, reject) => {
        const req = request(stack.gateway.url, { method: "POST", headers: { ...init.headers, ...headers } }, (res) => {
          res.resume();
          resolve(res.statusCode ?? 0);
        });
        req.on("error", reject);
        req.end(init.body);
      });
    assert.equal(await post({ host: `evil.example:${stack.gateway.port}` }), 403);
    assert.equal(await post({ origin: "http://evil.example" }), 403);
    assert.equal(await post({ origin: `http://localhost:${stack.gateway.port}` }), 200);
    assert.equal(await post({ host: `localhost:${stack.gateway.port}` }), 200);
  });

  test("CORS: a browser client from an allowed origin gets its preflight answered and can read the 401 challenge", async () => {
    const origin = `http://localhost:${stack.gateway.port}`;
    const preflight = await fetch(stack.gateway.url, {
      method: "OPTIONS",
      headers: { origin, "access-control-request-method": "POST", "access-control-request-headers": "authorization, content-type" },
    });
    assert.equal(preflight.status, 204);
    assert.equal(preflight.headers.get("access-control-allow-origin"), origin);
    assert.match(preflight.headers.get("access-control-allow-headers") ?? "", /authorization/);
    const unauthenticated = await fetch(stack.gateway.url, { method: "POST", headers: { origin, "content-type": "application/json" }, body: "{}" });
    assert.equal(unauthenticated.status, 401);
    assert.equal(unauthenticated.headers.get("access-control-allow-origin"), origin);
    assert.match(unauthenticated.headers.get("access-control-expose-headers") ?? "", /www-authenticate/i);
    const foreign = await fetch(stack.gateway.url, { method: "OPTIONS", headers: { origin: "http://evil.example", "access-control-request-method": "POST" } });
    assert.equal(foreign.status, 403);
    assert.equal(foreign.headers.get("access-control-allow-origin"), null);
  });

  test("the stdio upstream killed → restarted, and calls work again", async () => {
    const pid = stack.gateway.upstream.pid();
    assert.ok(pid, "the child runs");
    const connections = stack.gateway.upstream.connections();
    process.kill(pid, "SIGKILL");
    const deadline = Date.now() + 30_000;
    while (stack.gateway.upstream.connections() === connections || !stack.gateway.upstream.pid()) {
      assert.ok(Date.now() < deadline, "restarted within 30 s");
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.notEqual(stack.gateway.upstream.pid(), pid);
    const client = await stack.connect();
    const result = (await client.callTool({ name: "echo", arguments: { message: "again" } })) as CallToolResult;
    assert.deepEqual(result.content, [{ type: "text", text: "Echo: again" }]);
  });

  test("no token is written to the gateway's log", async () => {
    const token = await stack.userToken();
    const client = await stack.connect(token);
    await client.callTool({ name: "echo", arguments: { message: "x" } });
    const signature = token.split(".")[2]!;
    assert.ok(!stack.log().includes(signature));
  });
});
