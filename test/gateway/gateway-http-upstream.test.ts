/**
 * The gateway in front of a Streamable HTTP upstream built with the official SDK: the upstream
 * sees the gateway's own connection (and the headers configured for it), never the client's
 * Authorization header or token; the PDP down → calls refused with a reason, the gateway stays up.
 */
import assert from "node:assert/strict";
import { createServer, type IncomingHttpHeaders, type Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, test } from "node:test";
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import { META_DECISION, type PepDecision } from "../../src/pep/index.js";
import { startGatewayStack, type GatewayStack } from "./support/gateway-stack.js";

interface Upstream {
  readonly url: string;
  readonly seen: IncomingHttpHeaders[];
  readonly ran: string[];
  close(): Promise<void>;
}

/** A stateless SDK MCP server on loopback with tools `echo` and `get-env`, recording every request's headers. */
async function startUpstream(): Promise<Upstream> {
  const seen: IncomingHttpHeaders[] = [];
  const ran: string[] = [];
  const http: HttpServer = createServer(async (req, res) => {
    seen.push({ ...req.headers });
    const server = new McpServer({ name: "recording-upstream", version: "1.0.0" });
    server.registerTool("echo", { inputSchema: { message: z.string() } }, async ({ message }, extra) => {
      ran.push("echo");
      return { content: [{ type: "text", text: `upstream saw: ${message}; authInfo ${extra.authInfo ? "present" : "absent"}` }] };
    });
    server.registerTool("get-env", { inputSchema: {} }, async () => {
      ran.push("get-env");
      return { content: [{ type: "text", text: "secret" }] };
    });
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
    res.on("close", () => {
      void transport.close();
      void server.close();
    });
    await server.connect(transport);
    await transport.handleRequest(req, res);
  });
  await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
  return {
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp`,
    seen,
    ran,
    close: () =>
      new Promise((resolve) => {
        http.close(() => resolve());
        http.closeAllConnections();
      }),
  };
}

describe("gateway in front of an HTTP upstream", { timeout: 60_000 }, () => {
  let upstream: Upstream;
  let stack: GatewayStack;
  before(async () => {
    upstream = await startUpstream();
    stack = await startGatewayStack({ url: upstream.url, headers: { "x-upstream-key": "from-gateway-config" } });
  });
  after(async () => {
    await stack?.close();
    await upstream?.close();
  });

  test("the upstream never sees the client's Authorization header or token", async () => {
    const token = await stack.userToken();
    const client = await stack.connect(token);
    const result = (await client.callTool({ name: "echo", arguments: { message: "hello" } })) as CallToolResult;
    assert.equal(result.isError, undefined);
    assert.equal((result.content[0] as { text: string }).text, "upstream saw: hello; authInfo absent");
    assert.ok(upstream.seen.length > 0);
    for (const headers of upstream.seen) {
      assert.equal(headers.authorization, undefined, "no Authorization header upstream");
      assert.equal(headers["x-workload-token"], undefined);
      assert.ok(!JSON.stringify(headers).includes(token.split(".")[2]!), "the token appears in no header");
      assert.equal(headers["x-upstream-key"], "from-gateway-config", "the configured upstream header is sent");
    }
  });

  test("the upstream's tool definitions reach the PDP: a session opened after the list pins them, and records carry the digest", async () => {
    const lister = await stack.connect(await stack.userToken({ subject: "definitions-lister" }));
    assert.ok((await lister.listTools()).tools.some((t) => t.name === "echo"));
    // A task session opened now (another user) pins the reported definition of each granted tool.
    const client = await stack.connect(await stack.userToken({ subject: "definitions-caller" }));
    const result = (await client.callTool({ name: "echo", arguments: { message: "pinned" } })) as CallToolResult;
    assert.equal(result.isError, undefined, JSON.stringify(result));
    const records = (await stack.pdp.records()).filter((r) => r.kind === "authorize" && r.tool === "echo" && r.userSubject === "definitions-caller");
    assert.ok(records.length > 0, "a record for the call");
    assert.match(records.at(-1)!.toolDefinitionDigest ?? "", /^[0-9a-f]{64}$/, "the record names the definition the call was decided under");
  });

  test("a denied call never reaches the upstream", async () => {
    const client = await stack.connect();
    const result = (await client.callTool({ name: "get-env", arguments: {} })) as CallToolResult;
    assert.equal(result.isError, true);
    assert.match((result.content[0] as { text: string }).text, /^DENY TOOL_NOT_GRANTED/);
    assert.ok(!upstream.ran.includes("get-env"));
  });

  test("a bearer token with an RFC 8693 act claim names the agent (not the gateway's own)", async () => {
    const stranger = await stack.connect(await stack.userToken({ subject: "carol", act: "spiffe://dev.mcp-pdp.local/agent/stranger" }));
    const before = upstream.ran.length;
    const refused = (await stranger.callTool({ name: "echo", arguments: { message: "as a stranger" } })) as CallToolResult;
    assert.equal(refused.isError, true);
    assert.match((refused.content[0] as { text: string }).text, /because session-named-workload/);
    assert.equal(upstream.ran.length, before);
    const assistant = await stack.connect(await stack.userToken({ subject: "carol", act: "spiffe://dev.mcp-pdp.local/agent/research-assistant" }));
    const allowed = (await assistant.callTool({ name: "echo", arguments: { message: "as the assistant" } })) as CallToolResult;
    assert.equal(allowed.isError, undefined);
  });

  test("PDP down: calls are refused with PDP_UNAVAILABLE and nothing reaches the upstream; the gateway stays up", async () => {
    const client = await stack.connect(await stack.userToken({ subject: "bob" }));
    await stack.pdp.close();
    const before = upstream.ran.length;
    const result = (await client.callTool({ name: "echo", arguments: { message: "unchecked?" } })) as CallToolResult;
    assert.equal(result.isError, true);
    assert.match((result.content[0] as { text: string }).text, /^DENY PDP_UNAVAILABLE/);
    assert.equal(upstream.ran.length, before, "nothing unchecked reached the upstream");
    assert.deepEqual((await client.listTools()).tools, [], "the list fails closed");
    await client.ping();
  });
});

describe("gateway with listDenied: show", { timeout: 60_000 }, () => {
  let upstream: Upstream;
  let stack: GatewayStack;
  before(async () => {
    upstream = await startUpstream();
    stack = await startGatewayStack({ url: upstream.url }, { listDenied: "show" });
  });
  after(async () => {
    await stack?.close();
    await upstream?.close();
  });

  test("refused tools stay listed, marked with the refusal; calling one answers the reason and never reaches the upstream", async () => {
    const client = await stack.connect();
    const { tools } = await client.listTools();
    const byName = new Map(tools.map((t) => [t.name, t]));
    assert.deepEqual([...byName.keys()].sort(), ["echo", "get-env"]);
    assert.doesNotMatch(byName.get("echo")!.description ?? "", /refused/);
    assert.match(byName.get("get-env")!.description ?? "", /^\[refused by policy: TOOL_NOT_GRANTED\]/);
    assert.equal((byName.get("get-env")!._meta?.[META_DECISION] as PepDecision).reasonCode, "TOOL_NOT_GRANTED");
    const result = (await client.callTool({ name: "get-env", arguments: {} })) as CallToolResult;
    assert.equal(result.isError, true);
    assert.match((result.content[0] as { text: string }).text, /^DENY TOOL_NOT_GRANTED/);
    assert.ok(!upstream.ran.includes("get-env"));
  });
});

describe("gateway with several upstreams by path", { timeout: 60_000 }, () => {
  let a: Upstream;
  let b: Upstream;
  let stack: GatewayStack;
  const OTHER = "https://other.example/mcp";
  before(async () => {
    a = await startUpstream();
    b = await startUpstream();
    stack = await startGatewayStack({}, {
      upstreams: [
        { path: "/a/mcp", resource: "https://everything.example/mcp", upstream: { url: a.url } },
        { path: "/b/mcp", resource: OTHER, upstream: { url: b.url } },
      ],
    });
  });
  after(async () => {
    await stack?.close();
    await a?.close();
    await b?.close();
  });

  test("each path relays to its own upstream, with its own resource, metadata and policies", async () => {
    const [routeA, routeB] = stack.gateway.routes;
    assert.equal(routeA!.url.endsWith("/a/mcp"), true);
    assert.equal(routeB!.resourceMetadataUrl, "https://other.example/.well-known/oauth-protected-resource/mcp");
    const meta = await fetch(new URL("/.well-known/oauth-protected-resource/b/mcp", stack.gateway.url)).catch(() => undefined);
    assert.equal(meta?.status, 404, "metadata lives at each resource's own well-known path (here on another origin)");

    const client = await stack.connect();
    const result = (await client.callTool({ name: "echo", arguments: { message: "to a" } })) as CallToolResult;
    assert.match((result.content[0] as { text: string }).text, /upstream saw: to a/);
    assert.deepEqual(a.ran, ["echo"]);
    assert.deepEqual(b.ran, []);

    // A token for A is not a token for B: the audience is checked per endpoint.
    const tokenA = await stack.userToken();
    const refused = await fetch(routeB!.url, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json, text/event-stream", authorization: `Bearer ${tokenA}` },
      body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "ping" }),
    });
    assert.equal(refused.status, 401);
    assert.match(refused.headers.get("www-authenticate") ?? "", /invalid_token.*resource_metadata="https:\/\/other\.example\//);

    // With B's own token: no policy opens a session on B, so B lists nothing and refuses the call.
    const { Client } = await import("@modelcontextprotocol/sdk/client/index.js");
    const { StreamableHTTPClientTransport } = await import("@modelcontextprotocol/sdk/client/streamableHttp.js");
    const clientB = new Client({ name: "stock-client", version: "1.0.0" });
    try {
      const tokenB = await stack.userToken({ audience: OTHER });
      await clientB.connect(new StreamableHTTPClientTransport(new URL(routeB!.url), { requestInit: { headers: { authorization: `Bearer ${tokenB}` } } }));
      assert.deepEqual((await clientB.listTools()).tools, []);
      const denied = (await clientB.callTool({ name: "echo", arguments: { message: "to b" } })) as CallToolResult;
      assert.equal(denied.isError, true);
      assert.deepEqual(b.ran, []);
    } finally {
      await clientB.close();
    }
  });
});

describe("gateway in front of a stateful HTTP upstream that forgets its sessions", { timeout: 60_000 }, () => {
  test("a 404 from the upstream is an MCP error for that call; the gateway reconnects and the next call works", async () => {
    const { randomUUID } = await import("node:crypto");
    const sessions = new Map<string, StreamableHTTPServerTransport>();
    const http = createServer(async (req, res) => {
      const id = req.headers["mcp-session-id"];
      const known = typeof id === "string" ? sessions.get(id) : undefined;
      if (known) return known.handleRequest(req, res);
      if (typeof id === "string") return void res.writeHead(404, { "content-type": "application/json" }).end(JSON.stringify({ jsonrpc: "2.0", id: null, error: { code: -32001, message: "Session not found" } }));
      const server = new McpServer({ name: "stateful-upstream", version: "1.0.0" });
      server.registerTool("echo", { inputSchema: { message: z.string() } }, async ({ message }) => ({ content: [{ type: "text", text: `stateful: ${message}` }] }));
      const transport: StreamableHTTPServerTransport = new StreamableHTTPServerTransport({
        sessionIdGenerator: () => randomUUID(),
        onsessioninitialized: (sid) => void sessions.set(sid, transport),
      });
      await server.connect(transport);
      await transport.handleRequest(req, res);
    });
    await new Promise<void>((resolve) => http.listen(0, "127.0.0.1", resolve));
    const stack = await startGatewayStack({ url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/mcp` });
    try {
      const client = await stack.connect();
      const call = () => client.callTool({ name: "echo", arguments: { message: "hi" } }) as Promise<CallToolResult>;
      assert.deepEqual((await call()).content, [{ type: "text", text: "stateful: hi" }]);
      const before = sessions.size;
      sessions.clear(); // the upstream "restarts"
      await assert.rejects(call(), (err: Error & { code?: number }) => {
        assert.equal(err.code, -32002);
        return true;
      });
      // The client's session keeps going: its upstream connection (an upstream session of its
      // own) is opened anew by the next call.
      assert.deepEqual((await call()).content, [{ type: "text", text: "stateful: hi" }]);
      assert.equal(sessions.size, 1, `one new upstream session (there were ${before} before the restart)`);
    } finally {
      await stack.close();
      await new Promise<void>((resolve) => {
        http.close(() => resolve());
        http.closeAllConnections();
      });
    }
  });
});
