/**
 * Server→client requests from a stdio upstream: `@modelcontextprotocol/server-everything` (stdio,
 * from npm) behind the gateway, whose `trigger-sampling-request` and `trigger-elicitation-request`
 * tools send `sampling/createMessage` and `elicitation/create` during a `tools/call`, reached by the
 * official SDK `Client` with only a bearer token. The request reaches the client whose call caused
 * it — never another client — and its answer goes back to the child; a client that declared no
 * such capability gets an MCP error from the gateway (relayed as the tool's error), never a hang.
 */
import assert from "node:assert/strict";
import path from "node:path";
import { after, afterEach, before, describe, test } from "node:test";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { CreateMessageRequestSchema, ElicitRequestSchema, type CallToolResult, type ClientCapabilities } from "@modelcontextprotocol/sdk/types.js";
import { editJson } from "../support/pdp.js";
import { EVERYTHING, RESOURCE, gatewayCedar, startGatewayStack, type GatewayStack } from "./support/gateway-stack.js";

/** gatewayCedar() plus the two tools that ask the client, in the research tool set. */
function cedarWithClientRequests(): string {
  const dir = gatewayCedar();
  editJson(path.join(dir, "entities", "tools.json"), (entities: unknown[]) => {
    for (const name of ["trigger-sampling-request", "trigger-elicitation-request"])
      entities.push({
        uid: { type: "Tool", id: `${RESOURCE}#${name}` },
        attrs: { name, server: { __entity: { type: "Server", id: RESOURCE } }, risk: 1, labels: [], impact: "read" },
        parents: [{ type: "ToolSet", id: "research-tools" }],
      });
  });
  return dir;
}

const textOf = (r: CallToolResult) => (r.content[0] as { text: string }).text;

describe("gateway: server→client requests of a stdio upstream (server-everything)", { timeout: 180_000 }, () => {
  let stack: GatewayStack;
  const clients: Client[] = [];
  before(async () => {
    stack = await startGatewayStack({ command: process.execPath, args: [EVERYTHING, "stdio"] }, { clientSessions: { stdioProcesses: 3 } }, cedarWithClientRequests());
  });
  /** Ends every client's session (DELETE: its child stops) and closes the clients. */
  const closeClients = async (): Promise<void> => {
    for (const c of clients.splice(0)) {
      await (c.transport as StreamableHTTPClientTransport | undefined)?.terminateSession().catch(() => {});
      await c.close().catch(() => {});
    }
  };
  afterEach(closeClients);
  after(() => stack?.close());

  /** An SDK client of user `subject` declaring `capabilities`, with only a bearer token. */
  const connect = async (subject: string, capabilities: ClientCapabilities, setup: (c: Client) => void = () => {}): Promise<Client> => {
    const client = new Client({ name: `client-of-${subject}`, version: "1.0.0" }, { capabilities });
    setup(client);
    clients.push(client);
    const token = await stack.userToken({ subject });
    await client.connect(new StreamableHTTPClientTransport(new URL(stack.gateway.url), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
    return client;
  };

  test("sampling/createMessage during a tools/call reaches the calling client, and its answer reaches the upstream", async () => {
    const asked: string[] = [];
    const client = await connect("alice", { sampling: {} }, (c) =>
      c.setRequestHandler(CreateMessageRequestSchema, async (r) => {
        asked.push((r.params.messages[0]!.content as { text: string }).text);
        return { role: "assistant", content: { type: "text", text: "sampled by alice's client" }, model: "test-model" };
      }),
    );
    const names = (await client.listTools()).tools.map((t) => t.name);
    assert.ok(names.includes("trigger-sampling-request"), `listed: ${names.join(", ")}`);
    const result = (await client.callTool({ name: "trigger-sampling-request", arguments: { prompt: "hello from alice", maxTokens: 5 } })) as CallToolResult;
    assert.equal(result.isError, undefined, textOf(result));
    assert.deepEqual(asked, ["Resource trigger-sampling-request context: hello from alice"]);
    assert.match(textOf(result), /sampled by alice's client/);
    assert.match(textOf(result), /test-model/);
  });

  test("elicitation/create during a tools/call reaches the calling client, and its answer reaches the upstream", async () => {
    let message = "";
    const client = await connect("alice", { elicitation: {} }, (c) =>
      c.setRequestHandler(ElicitRequestSchema, async (r) => {
        message = r.params.message;
        return { action: "accept", content: { name: "Alice Example", check: true, email: "alice@example.com" } };
      }),
    );
    const result = (await client.callTool({ name: "trigger-elicitation-request", arguments: {} })) as CallToolResult;
    assert.equal(result.isError, undefined, textOf(result));
    assert.equal(message, "Please provide inputs for the following fields:");
    assert.match(JSON.stringify(result.content), /Alice Example/);
  });

  test("two concurrent clients each get only their own sampling request, both pending at once", async () => {
    // Each handler waits until both requests are pending (or 30 s), so that both calls are in
    // flight together; a request relayed to the wrong client shows up in the other's list.
    const asked = { alice: [] as string[], bob: [] as string[] };
    let arrived = 0;
    let bothPending!: () => void;
    const both = new Promise<void>((resolve) => (bothPending = resolve));
    const sampler = (who: "alice" | "bob") => (c: Client) =>
      c.setRequestHandler(CreateMessageRequestSchema, async (r) => {
        asked[who].push((r.params.messages[0]!.content as { text: string }).text);
        if (++arrived === 2) bothPending();
        await Promise.race([both, new Promise((resolve) => setTimeout(resolve, 30_000).unref())]);
        return { role: "assistant", content: { type: "text", text: `answer of ${who}` }, model: `model-of-${who}` };
      });
    const alice = await connect("alice", { sampling: {} }, sampler("alice"));
    const bob = await connect("bob", { sampling: {} }, sampler("bob"));
    const [a, b] = (await Promise.all([
      alice.callTool({ name: "trigger-sampling-request", arguments: { prompt: "alice's secret", maxTokens: 5 } }),
      bob.callTool({ name: "trigger-sampling-request", arguments: { prompt: "bob's secret", maxTokens: 5 } }),
    ])) as CallToolResult[];
    assert.equal(arrived, 2);
    assert.deepEqual(asked.alice, ["Resource trigger-sampling-request context: alice's secret"]);
    assert.deepEqual(asked.bob, ["Resource trigger-sampling-request context: bob's secret"]);
    assert.match(textOf(a!), /answer of alice/);
    assert.doesNotMatch(textOf(a!), /bob/);
    assert.match(textOf(b!), /answer of bob/);
    assert.doesNotMatch(textOf(b!), /alice/);
  });

  test("a client that did not declare sampling: the upstream's request is answered with an MCP error (no hang, no other client asked)", async () => {
    const asked: string[] = [];
    // A client that can sample is connected too: the request must not reach it.
    await connect("bob", { sampling: {} }, (c) =>
      c.setRequestHandler(CreateMessageRequestSchema, async (r) => {
        asked.push(JSON.stringify(r.params));
        return { role: "assistant", content: { type: "text", text: "wrong client" }, model: "m" };
      }),
    );
    const plain = await connect("carol", {});
    const result = (await plain.callTool({ name: "trigger-sampling-request", arguments: { prompt: "carol asks", maxTokens: 5 } })) as CallToolResult;
    assert.equal(result.isError, true);
    assert.match(textOf(result), /sampling\/createMessage is refused by the mcp-pdp gateway/);
    assert.deepEqual(asked, []);
  });

  test("past clientSessions.stdioProcesses a client shares the common child: its request is refused; a closed session gives its child back", async () => {
    const sampler = (c: Client) => c.setRequestHandler(CreateMessageRequestSchema, async () => ({ role: "assistant", content: { type: "text", text: "sampled" }, model: "m" }));
    const own = [await connect("dave", { sampling: {} }, sampler), await connect("dave", { sampling: {} }, sampler), await connect("dave", { sampling: {} }, sampler)];
    const over = await connect("erin", { sampling: {} }, sampler);
    const refused = (await over.callTool({ name: "trigger-sampling-request", arguments: { prompt: "x", maxTokens: 5 } })) as CallToolResult;
    assert.equal(refused.isError, true);
    assert.match(textOf(refused), /refused by the mcp-pdp gateway/);
    for (const c of own) {
      const r = (await c.callTool({ name: "trigger-sampling-request", arguments: { prompt: "x", maxTokens: 5 } })) as CallToolResult;
      assert.equal(r.isError, undefined);
    }
    // Ending one session (DELETE) stops its child and frees its slot for the next client.
    await (own[0]!.transport as StreamableHTTPClientTransport).terminateSession();
    const next = await connect("frank", { sampling: {} }, sampler);
    const allowed = (await next.callTool({ name: "trigger-sampling-request", arguments: { prompt: "y", maxTokens: 5 } })) as CallToolResult;
    assert.equal(allowed.isError, undefined, textOf(allowed));
  });
});
