/**
 * Client sessions through the gateway: an SDK-built stateful HTTP upstream that uses what needs a
 * session — resource subscriptions and `notifications/resources/updated`, log messages, tool list
 * changes, and server→client requests (sampling, elicitation, roots) — reached by the official SDK
 * `Client` through the gateway with only a bearer token. Also: a session is its owner's only, and
 * the number of sessions is bounded.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import { writeFileSync } from "node:fs";
import { createServer, request as httpRequest } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
  LoggingMessageNotificationSchema,
  ResourceUpdatedNotificationSchema,
  SubscribeRequestSchema,
  ToolListChangedNotificationSchema,
  UnsubscribeRequestSchema,
  type CallToolResult,
} from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import { loadGatewayConfig } from "../../src/gateway/config.js";
import { startGateway, type Gateway } from "../../src/gateway/gateway.js";
import { MAX_PENDING_CLIENT_REQUESTS } from "../../src/gateway/mcp-route.js";
import { mintDevToken } from "../../src/identity/dev-issuer.js";
import { startTestPdp, type TestPdp } from "../support/pdp.js";
import { RESOURCE, captureLogger, gatewayCedar } from "./support/gateway-stack.js";

/** The upstream: one McpServer per upstream session; `subscriptions` per upstream session id. */
async function startUpstream(options: { json?: boolean } = {}) {
  const subscriptions = new Map<string, Set<string>>();
  /** The JSON-RPC id of every tools/call the upstream got. */
  const callIds: (string | number)[] = [];
  /** The ids of calls the upstream saw cancelled. */
  const aborted: (string | number)[] = [];
  const transports = new Map<string, StreamableHTTPServerTransport>();
  const http = createServer(async (req, res) => {
    const sid = req.headers["mcp-session-id"];
    const known = typeof sid === "string" ? transports.get(sid) : undefined;
    if (known) return known.handleRequest(req, res);
    if (typeof sid === "string") return void res.writeHead(404).end();
    const server = new McpServer({ name: "session-upstream", version: "1.0.0" }, { capabilities: { logging: {}, resources: { subscribe: true } } });
    let id = "";
    const mine = () => subscriptions.get(id) ?? new Set<string>();
    server.registerResource("doc", "test://doc", {}, async (uri) => ({ contents: [{ uri: uri.href, text: "doc" }] }));
    server.registerResource("secret", "test://secret", {}, async (uri) => ({ contents: [{ uri: uri.href, text: "secret" }] }));
    server.server.setRequestHandler(SubscribeRequestSchema, async (r) => (mine().add(r.params.uri), {}));
    server.server.setRequestHandler(UnsubscribeRequestSchema, async (r) => (mine().delete(r.params.uri), {}));
    server.registerTool("echo", { inputSchema: { message: z.string() } }, async ({ message }, extra) => {
      callIds.push(extra.requestId);
      const text = async (): Promise<string> => {
        switch (message) {
          case "wait":
            await new Promise((resolve) => extra.signal.addEventListener("abort", resolve));
            aborted.push(extra.requestId);
            return "aborted";
          case "progress": {
            const progressToken = extra._meta?.progressToken;
            if (progressToken !== undefined) await extra.sendNotification({ method: "notifications/progress", params: { progressToken, progress: 1, total: 2 } });
            return "progressed";
          }
          case "touch":
            for (const uri of mine()) await server.server.sendResourceUpdated({ uri });
            await server.sendLoggingMessage({ level: "info", data: "touched" });
            return "touched";
          case "sample": {
            const r = await server.server.createMessage({ messages: [{ role: "user", content: { type: "text", text: "say hi" } }], maxTokens: 10 });
            return `sampled: ${(r.content as { text: string }).text}`;
          }
          case "elicit": {
            const r = await server.server.elicitInput({ message: "name?", requestedSchema: { type: "object", properties: { name: { type: "string" } } } });
            return `elicited: ${r.action} ${JSON.stringify(r.content)}`;
          }
          case "roots":
            return `roots: ${(await server.server.listRoots()).roots.map((r) => r.uri).join(",")}`;
          case "grow":
            server.registerTool("grown", { inputSchema: {} }, async () => ({ content: [] }));
            return "grown";
          default:
            return message;
        }
      };
      return { content: [{ type: "text", text: await text() }] };
    });
    server.registerTool("get-tiny-image", { inputSchema: {} }, async (_args, extra) => {
      callIds.push(extra.requestId);
      return { content: [{ type: "text", text: "an image" }] };
    });
    const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
      sessionIdGenerator: () => randomUUID(),
      ...(options.json && { enableJsonResponse: true }),
      onsessioninitialized: (s) => {
        id = s;
        transports.set(s, transport);
        subscriptions.set(s, new Set());
      },
      onsessionclosed: (s) => void transports.delete(s),
    });
    await server.connect(transport);
    await transport.handleRequest(req, res);
  });
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`,
    subscriptions,
    callIds,
    aborted,
    /** Upstream sessions open now. */
    open: () => transports.size,
    close: () => new Promise<void>((resolve) => (http.close(() => resolve()), http.closeAllConnections())),
  };
}

/** Waits until `check` holds (bounded). */
async function until(check: () => boolean, what: string, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    assert.ok(Date.now() < deadline, `timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** The gateway's cedar plus: research agents may read test://doc (test://secret: nothing permits it). */
function sessionsCedar(): string {
  const dir = gatewayCedar();
  writeFileSync(
    path.join(dir, "policies", "gateway-sessions.cedar"),
    `@id("read-test-doc")
@reason("research agents may read the test document")
permit (principal in AgentGroup::"research-agents", action == Action::"read_resource", resource == Resource::"test://doc");
`,
  );
  return dir;
}

describe("gateway client sessions: subscriptions, notifications and server→client requests", { timeout: 120_000 }, () => {
  let upstream: Awaited<ReturnType<typeof startUpstream>>;
  let pdp: TestPdp;
  let gateway: Gateway;
  const clients: { client: Client; transport: StreamableHTTPClientTransport }[] = [];
  /** Ends every client's session (DELETE) and closes it. */
  const closeAll = async () => {
    for (const c of clients.splice(0)) {
      await c.transport.terminateSession().catch(() => {});
      await c.client.close().catch(() => {});
    }
  };
  const token = (subject = "alice") => mintDevToken("user", { audience: RESOURCE, clientId: "dev-client", subject });

  before(async () => {
    upstream = await startUpstream();
    pdp = await startTestPdp({ cedarDir: sessionsCedar() });
    const config = loadGatewayConfig({ env: {}, overrides: { port: 0, resource: RESOURCE, pdp: { address: pdp.address }, upstream: { url: upstream.url }, clientSessions: { max: 3 } } });
    gateway = await startGateway(config, { logger: captureLogger().logger });
  });
  after(async () => {
    await closeAll();
    await gateway?.close();
    await pdp?.close();
    await upstream?.close();
  });

  const connect = async (bearer?: string) => {
    const client = new Client({ name: "stock-client", version: "1.0.0" }, { capabilities: { sampling: {}, elicitation: {}, roots: {} } });
    client.setRequestHandler(CreateMessageRequestSchema, async () => ({ role: "assistant", model: "test", content: { type: "text", text: "hi from the client" } }));
    client.setRequestHandler(ElicitRequestSchema, async () => ({ action: "accept", content: { name: "alice" } }));
    client.setRequestHandler(ListRootsRequestSchema, async () => ({ roots: [{ uri: "file:///work", name: "work" }] }));
    const transport = new StreamableHTTPClientTransport(new URL(gateway.url), { requestInit: { headers: { authorization: `Bearer ${bearer ?? (await token())}` } } });
    await client.connect(transport);
    clients.push({ client, transport });
    return { client, transport };
  };
  const echo = async (client: Client, message: string) => ((await client.callTool({ name: "echo", arguments: { message } })) as CallToolResult).content[0] as { text: string };

  test("resources/subscribe reaches the upstream; its resources/updated and log messages reach the client; unsubscribe too", async () => {
    const { client, transport } = await connect();
    assert.ok(transport.sessionId, "the gateway minted a session id");
    assert.equal(client.getServerCapabilities()?.resources?.subscribe, true);
    const updated: string[] = [];
    const logs: unknown[] = [];
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => void updated.push(n.params.uri));
    client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void logs.push(n.params.data));
    await client.subscribeResource({ uri: "test://doc" });
    assert.ok([...upstream.subscriptions.values()].some((s) => s.has("test://doc")), "the upstream got the subscription");
    assert.equal((await echo(client, "touch")).text, "touched");
    await until(() => updated.includes("test://doc") && logs.includes("touched"), "the update and the log message");
    await client.unsubscribeResource({ uri: "test://doc" });
    assert.ok(![...upstream.subscriptions.values()].some((s) => s.has("test://doc")), "the upstream got the unsubscription");
  });

  test("subscribing to a resource the task session was refused is refused, and never reaches the upstream", async () => {
    const { client } = await connect();
    await assert.rejects(client.subscribeResource({ uri: "test://secret" }), (err: Error & { code?: number }) => {
      assert.equal(err.code, -32003, err.message);
      return true;
    });
    assert.ok(![...upstream.subscriptions.values()].some((s) => s.has("test://secret")));
  });

  test("sampling, elicitation and roots requests from the upstream are answered by the client", async () => {
    await closeAll();
    const { client } = await connect();
    assert.equal((await echo(client, "sample")).text, "sampled: hi from the client");
    assert.equal((await echo(client, "elicit")).text, 'elicited: accept {"name":"alice"}');
    assert.equal((await echo(client, "roots")).text, "roots: file:///work");
  });

  test(`at most ${MAX_PENDING_CLIENT_REQUESTS} server→client requests wait for one client: one more is answered upstream with an MCP error at once`, async () => {
    await closeAll();
    const { client } = await connect();
    let waiting = 0;
    let release!: () => void;
    const released = new Promise<void>((resolve) => (release = resolve));
    client.setRequestHandler(CreateMessageRequestSchema, async () => {
      waiting++;
      await released;
      return { role: "assistant", model: "test", content: { type: "text", text: "late" } };
    });
    const calls = Array.from({ length: MAX_PENDING_CLIENT_REQUESTS + 1 }, () => client.callTool({ name: "echo", arguments: { message: "sample" } }) as Promise<CallToolResult>);
    try {
      const first = await Promise.race(calls);
      assert.equal(first.isError, true);
      assert.match((first.content[0] as { text: string }).text, new RegExp(`${MAX_PENDING_CLIENT_REQUESTS} requests already wait for this client`));
      await until(() => waiting === MAX_PENDING_CLIENT_REQUESTS, "the others reach the client");
    } finally {
      release();
    }
    const texts = (await Promise.all(calls)).map((r) => (r.content[0] as { text: string }).text);
    assert.equal(texts.filter((t) => t === "sampled: late").length, MAX_PENDING_CLIENT_REQUESTS);
    assert.equal(waiting, MAX_PENDING_CLIENT_REQUESTS);
  });

  test("tools/list_changed reaches the client", async () => {
    await closeAll();
    const { client } = await connect();
    let changed = 0;
    client.setNotificationHandler(ToolListChangedNotificationSchema, () => void changed++);
    await echo(client, "grow");
    await until(() => changed > 0, "tools/list_changed");
  });

  test("a client with no sampling, elicitation or roots: an allowed call goes straight to its upstream session, same answer, progress relayed", async () => {
    await closeAll();
    const client = new Client({ name: "plain-client", version: "1.0.0" });
    const transport = new StreamableHTTPClientTransport(new URL(gateway.url), { requestInit: { headers: { authorization: `Bearer ${await token()}` } } });
    await client.connect(transport);
    clients.push({ client, transport });
    const result = (await client.callTool({ name: "echo", arguments: { message: "hi" } })) as CallToolResult;
    assert.deepEqual(result.content, [{ type: "text", text: "hi" }]);
    assert.equal((result._meta?.["io.mcp-pdp/decision"] as { decision?: string } | undefined)?.decision, "ALLOW");
    assert.match(String(upstream.callIds.at(-1)), /^mcp-pdp-\d+$/, "relayed under the gateway's own id, not through the SDK client");
    const progress: number[] = [];
    const withProgress = (await client.callTool({ name: "echo", arguments: { message: "progress" } }, undefined, { onprogress: (p) => void progress.push(p.progress) })) as CallToolResult;
    assert.deepEqual(withProgress.content, [{ type: "text", text: "progressed" }]);
    assert.deepEqual(progress, [1]);
    const denied = (await client.callTool({ name: "get-env", arguments: {} })) as CallToolResult;
    assert.equal(denied.isError, true, "a refused call is answered by the gateway");
    // Cancellation reaches the upstream under the gateway's id.
    const abort = new AbortController();
    const calls = upstream.callIds.length;
    const waiting = client.callTool({ name: "echo", arguments: { message: "wait" } }, undefined, { signal: abort.signal });
    await until(() => upstream.callIds.length > calls, "the waiting call at the upstream");
    abort.abort("the user gave up");
    await assert.rejects(waiting);
    await until(() => upstream.aborted.some((id) => String(id).startsWith("mcp-pdp-")), "the cancellation at the upstream");
  });

  test("the hot path (a tools/call straight to the upstream session) keeps every check of the general path", async () => {
    await closeAll();
    const client = new Client({ name: "plain-client", version: "1.0.0" });
    const transport = new StreamableHTTPClientTransport(new URL(gateway.url), { requestInit: { headers: { authorization: `Bearer ${await token()}` } } });
    await client.connect(transport);
    clients.push({ client, transport });
    const sessionId = transport.sessionId!;
    // node:http, not fetch: fetch cannot send another Host.
    const post = async (body: string, headers: Record<string, string> = {}, bearer?: string) => {
      const all: Record<string, string> = {
        authorization: `Bearer ${bearer ?? (await token())}`,
        "content-type": "application/json",
        accept: "application/json, text/event-stream",
        "mcp-session-id": sessionId,
        "mcp-protocol-version": "2025-06-18",
        ...headers,
      };
      if (all.authorization === "Bearer ") delete all.authorization;
      return new Promise<{ status: number; headers: Headers; text: string }>((resolve, reject) => {
        const req = httpRequest(gateway.url, { method: "POST", headers: all }, (res) => {
          let text = "";
          res.setEncoding("utf8");
          res.on("data", (d: string) => (text += d));
          res.on("end", () => {
            const h = new Headers();
            for (const [k, v] of Object.entries(res.headers)) if (typeof v === "string") h.set(k, v);
            resolve({ status: res.statusCode ?? 0, headers: h, text });
          });
        });
        req.on("error", reject);
        req.end(body);
      });
    };
    const call = (name: string, id = 7) => JSON.stringify({ jsonrpc: "2.0", id, method: "tools/call", params: { name, arguments: name === "echo" ? { message: "hot" } : {} } });
    const calls = upstream.callIds.length;

    const allowed = await post(call("echo"));
    assert.equal(allowed.status, 200);
    assert.match(allowed.text, /"text":"hot"/);
    assert.equal(upstream.callIds.length, calls + 1);
    assert.match(String(upstream.callIds.at(-1)), /^mcp-pdp-\d+$/, "this call took the direct path");
    // The CORS headers of the general path (a ping, answered by the SDK transport behind express).
    const origin = "http://localhost:3000";
    const ping = await post(JSON.stringify({ jsonrpc: "2.0", id: 8, method: "ping" }), { origin });
    const hot = await post(call("echo", 9), { origin });
    assert.equal(hot.status, 200);
    for (const h of ["access-control-allow-origin", "vary", "access-control-expose-headers"]) assert.equal(hot.headers.get(h), ping.headers.get(h), h);
    assert.equal(hot.headers.get("access-control-allow-origin"), origin);

    // Every refusal, and nothing reaches the upstream.
    const before = upstream.callIds.length;
    const badHost = await post(call("echo"), { host: "evil.example" });
    assert.equal(badHost.status, 403, "Host not allowed (DNS rebinding)");
    assert.match(badHost.text, /Invalid Host/);
    const badOrigin = await post(call("echo"), { origin: "http://evil.example" });
    assert.equal(badOrigin.status, 403);
    assert.match(badOrigin.text, /Invalid Origin header/);
    const noToken = await post(call("echo"), {}, "");
    assert.equal(noToken.status, 401);
    assert.match(noToken.headers.get("www-authenticate") ?? "", /resource_metadata=/);
    const badToken = await post(call("echo"), {}, "not.a.token");
    assert.equal(badToken.status, 401);
    const stolen = await post(call("echo"), {}, await token("mallory"));
    assert.equal(stolen.status, 404, "another user's token does not reach the session");
    const unknown = await post(call("echo"), { "mcp-session-id": "no-such-session" });
    assert.equal(unknown.status, 404);
    const malformed = await post("{not json");
    assert.equal(malformed.status, 400);
    assert.match(malformed.text, /Parse error/);
    const scalar = await post("42");
    assert.equal(scalar.status, 400, "a JSON scalar is refused as express's strict parser refuses it");
    const huge = await post(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "echo", arguments: { message: "x".repeat(5 * 1024 * 1024) } } }));
    assert.equal(huge.status, 413);
    const wrongType = await post(call("echo"), { "content-type": "text/plain" });
    assert.equal(wrongType.status, 415, "as the SDK transport answers (the direct path meets no SDK transport)");
    const wrongAccept = await post(call("echo"), { accept: "application/json" });
    assert.equal(wrongAccept.status, 406);
    const denied = await post(call("get-env"));
    assert.equal(denied.status, 200);
    const deniedResult = (JSON.parse(denied.text.startsWith("{") ? denied.text : denied.text.split("data: ")[1]!) as { result: CallToolResult }).result;
    assert.equal(deniedResult.isError, true);
    assert.match(String((deniedResult.content[0] as { text: string }).text), /DENY/);
    const stepUp = await post(call("get-tiny-image"));
    assert.equal(stepUp.status, 403, "a call that needs a scope the token lacks is HTTP 403");
    assert.match(stepUp.headers.get("www-authenticate") ?? "", /error="insufficient_scope", scope="images.read"/);
    assert.equal(upstream.callIds.length, before, "no refused call reached the upstream");
    const withScope = await post(call("get-tiny-image"), {}, await mintDevToken("user", { audience: RESOURCE, clientId: "dev-client", subject: "alice", scopes: ["images.read"] }));
    assert.equal(withScope.status, 200);
    assert.match(withScope.text, /an image/);
  });

  test("a session id is its owner's only; sessions are bounded (clientSessions.max) and DELETE frees one", async () => {
    await closeAll();
    assert.equal(gateway.routes[0]!.clientSessions.size(), 0, "DELETE ended every session");
    assert.equal(upstream.open(), 1, "and their upstream sessions: only the gateway's shared one is left");
    const { transport } = await connect();
    const other = await token("mallory");
    const stolen = await fetch(gateway.url, {
      method: "POST",
      headers: { authorization: `Bearer ${other}`, "content-type": "application/json", accept: "application/json, text/event-stream", "mcp-session-id": transport.sessionId!, "mcp-protocol-version": "2025-06-18" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }),
    });
    assert.equal(stolen.status, 404, "another user's token does not reach the session");
    await stolen.body?.cancel();
    await connect();
    await connect();
    await assert.rejects(connect(), /503|too many client sessions/);
    await transport.terminateSession();
    await connect();
  });
});

describe("gateway client sessions over a shared stdio upstream: counted subscriptions, updates to subscribers only", { timeout: 120_000 }, () => {
  let pdp: TestPdp;
  let gateway: Gateway;
  const clients: { client: Client; transport: StreamableHTTPClientTransport }[] = [];

  before(async () => {
    pdp = await startTestPdp({ cedarDir: sessionsCedar() });
    const server = path.join(path.dirname(new URL(import.meta.url).pathname), "support", "subscribe-server.mjs");
    const config = loadGatewayConfig({ env: {}, overrides: { port: 0, resource: RESOURCE, pdp: { address: pdp.address }, upstream: { command: process.execPath, args: [server] } } });
    gateway = await startGateway(config, { logger: captureLogger().logger });
  });
  after(async () => {
    for (const c of clients) await c.client.close().catch(() => {});
    await gateway?.close();
    await pdp?.close();
  });

  const connect = async () => {
    const client = new Client({ name: "stock-client", version: "1.0.0" });
    const transport = new StreamableHTTPClientTransport(new URL(gateway.url), {
      requestInit: { headers: { authorization: `Bearer ${await mintDevToken("user", { audience: RESOURCE, clientId: "dev-client" })}` } },
    });
    await client.connect(transport);
    clients.push({ client, transport });
    const updated: string[] = [];
    client.setNotificationHandler(ResourceUpdatedNotificationSchema, (n) => void updated.push(n.params.uri));
    return { client, updated };
  };
  const echo = async (client: Client, message: string) => (((await client.callTool({ name: "echo", arguments: { message } })) as CallToolResult).content[0] as { text: string }).text;

  test("the child is subscribed while any session is; each update reaches the subscribed sessions only", async () => {
    const a = await connect();
    const b = await connect();
    const c = await connect();
    await a.client.subscribeResource({ uri: "test://doc" });
    await b.client.subscribeResource({ uri: "test://doc" });
    assert.equal(await echo(a.client, "subs"), "test://doc");
    assert.equal(await echo(c.client, "touch"), "touch");
    await until(() => a.updated.length === 1 && b.updated.length === 1, "the update at both subscribers");
    assert.deepEqual(c.updated, [], "a session that did not subscribe gets no update");
    await a.client.unsubscribeResource({ uri: "test://doc" });
    assert.equal(await echo(a.client, "subs"), "test://doc", "still subscribed for b");
    await b.client.unsubscribeResource({ uri: "test://doc" });
    assert.equal(await echo(a.client, "subs"), "", "the last unsubscribe reached the child");
    await b.client.subscribeResource({ uri: "test://doc" });
    const session = clients[1]!.transport;
    await session.terminateSession();
    assert.equal(await echo(a.client, "subs"), "", "a session that ends drops its subscriptions");
  });
});

describe("gateway direct call path against an upstream that answers JSON (enableJsonResponse)", { timeout: 120_000 }, () => {
  test("the allowed call is relayed directly and answered under the client's id with the decision", async () => {
    const upstream = await startUpstream({ json: true });
    const pdp = await startTestPdp({ cedarDir: sessionsCedar() });
    const config = loadGatewayConfig({ env: {}, overrides: { port: 0, resource: RESOURCE, pdp: { address: pdp.address }, upstream: { url: upstream.url } } });
    const gateway = await startGateway(config, { logger: captureLogger().logger });
    const client = new Client({ name: "plain-client", version: "1.0.0" });
    try {
      await client.connect(
        new StreamableHTTPClientTransport(new URL(gateway.url), { requestInit: { headers: { authorization: `Bearer ${await mintDevToken("user", { audience: RESOURCE, clientId: "dev-client" })}` } } }),
      );
      for (const message of ["one", "two"]) {
        const result = (await client.callTool({ name: "echo", arguments: { message } })) as CallToolResult;
        assert.deepEqual(result.content, [{ type: "text", text: message }]);
        assert.equal((result._meta?.["io.mcp-pdp/decision"] as { decision?: string } | undefined)?.decision, "ALLOW");
        assert.match(String(upstream.callIds.at(-1)), /^mcp-pdp-\d+$/);
      }
    } finally {
      await client.close().catch(() => {});
      await gateway.close();
      await pdp.close();
      await upstream.close();
    }
  });
});
