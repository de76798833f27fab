/**
 * Real parts nobody on this project wrote: `@modelcontextprotocol/server-filesystem` (stdio, on a
 * temporary directory) behind the gateway, a real OAuth server (`oidc-provider`, client
 * credentials with a resource indicator) minting the only credential the client sends, and the
 * official SDK `Client`. The gateway and the PDP both trust that issuer as a user-token issuer.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { loadGatewayConfig } from "../../src/gateway/config.js";
import { startGateway, type Gateway } from "../../src/gateway/gateway.js";
import { AdminService } from "../../src/gen/mcppdp/v1/admin_pb.js";
import { createClient } from "../../src/grpc/client.js";
import { devIdentityConfig } from "../../src/identity/dev-issuer.js";
import { META_DECISION, type PepDecision } from "../../src/pep/index.js";
import { startOidcProvider, type OidcProvider } from "../support/oidc-provider.js";
import { copyCedar, editJson, startTestPdp, type TestPdp } from "../support/pdp.js";
import { captureLogger } from "./support/gateway-stack.js";

const RESOURCE = "https://files.example/mcp";
const FILESYSTEM = path.join(path.dirname(createRequire(import.meta.url).resolve("@modelcontextprotocol/server-filesystem/package.json")), "dist", "index.js");

const decisionOf = (r: { _meta?: Record<string, unknown> }) => r._meta?.[META_DECISION] as PepDecision | undefined;
const textOf = (r: CallToolResult) => (r.content[0] as { text: string }).text;

/**
 * The bundled cedar/ plus: the files server trusts the OAuth server; research agents may open
 * research sessions there and call `read_text_file` and `list_directory` (tool set
 * research-tools); `write_file` is known and in no tool set, so nothing permits it. The other
 * tools server-filesystem lists are unknown to the model.
 */
function filesCedar(issuer: string): string {
  return copyCedar((dir) => {
    editJson(path.join(dir, "entities", "servers.json"), (entities: unknown[]) => {
      entities.push({
        uid: { type: "Server", id: RESOURCE },
        attrs: { vendor: "example", broker: false, trusted_idps: [{ __entity: { type: "IdentityProvider", id: issuer } }], max_session_ttl_seconds: 900 },
        parents: [],
      });
    });
    editJson(path.join(dir, "entities", "tools.json"), (entities: unknown[]) => {
      const tool = (name: string, parents: { type: string; id: string }[], impact = "read") => ({
        uid: { type: "Tool", id: `${RESOURCE}#${name}` },
        attrs: { name, server: { __entity: { type: "Server", id: RESOURCE } }, risk: 1, labels: [], impact },
        parents,
      });
      const research = [{ type: "ToolSet", id: "research-tools" }];
      entities.push(tool("read_text_file", research), tool("list_directory", research), tool("write_file", [], "write"));
    });
    writeFileSync(
      path.join(dir, "policies", "gateway-files.cedar"),
      `@id("session-research-agents-files")
@reason("research agents may open sessions on the files server for research")
permit (
  principal in AgentGroup::"research-agents",
  action == Action::"open_session",
  resource == Server::"${RESOURCE}"
)
when { context.purpose == "research" };
`,
    );
  });
}

describe("gateway in front of server-filesystem (stdio), tokens from oidc-provider", { timeout: 120_000 }, () => {
  let oauth: OidcProvider | undefined;
  let pdp: TestPdp | undefined;
  let gateway: Gateway | undefined;
  let files: string;
  const clients: Client[] = [];
  const { logger, text: gatewayLog } = captureLogger();

  before(async () => {
    files = mkdtempSync(path.join(tmpdir(), "mcp-pdp-files-"));
    writeFileSync(path.join(files, "notes.txt"), "cedar decides\n");
    oauth = await startOidcProvider({ resources: [RESOURCE] });
    pdp = await startTestPdp({
      cedarDir: filesCedar(oauth.issuer),
      identity: { ...devIdentityConfig(), userIssuers: [{ issuer: oauth.issuer, jwksUri: oauth.jwksUri }] },
    });
    const config = loadGatewayConfig({
      env: {},
      overrides: {
        port: 0,
        resource: RESOURCE,
        pdp: { address: pdp.address, timeoutMs: 1000, openSessionTimeoutMs: 2000 },
        userIssuers: [{ issuer: oauth.issuer, jwksUri: oauth.jwksUri }],
        upstream: { command: process.execPath, args: [FILESYSTEM, files], restartInitialDelayMs: 50, restartMaxDelayMs: 1000 },
      },
    });
    gateway = await startGateway(config, { logger });
  });
  after(async () => {
    for (const c of clients) await c.close().catch(() => {});
    await gateway?.close();
    await pdp?.close();
    await oauth?.close();
    rmSync(files, { recursive: true, force: true });
  });

  /** An SDK client whose only credential is `Authorization: Bearer <oidc-provider access token>`. */
  const connect = async (headers: Record<string, string> = {}): Promise<Client> => {
    const token = await oauth!.getToken(RESOURCE);
    const client = new Client({ name: "stock-client", version: "1.0.0" });
    clients.push(client);
    await client.connect(new StreamableHTTPClientTransport(new URL(gateway!.url), { requestInit: { headers: { ...headers, authorization: `Bearer ${token}` } } }));
    return client;
  };

  test("the gateway trusts only the configured issuer: a token from oidc-provider is accepted, none is 401", async () => {
    const res = await fetch(gateway!.url, { method: "POST", headers: { "content-type": "application/json", accept: "application/json, text/event-stream" }, body: "{}" });
    assert.equal(res.status, 401);
    await res.body?.cancel();
    const client = await connect();
    await client.ping();
  });

  test("tools/list is exactly the granted tools of the 14 server-filesystem lists", async () => {
    const client = await connect();
    const { tools } = await client.listTools();
    assert.deepEqual(tools.map((t) => t.name).sort(), ["list_directory", "read_text_file"]);
  });

  test("an allowed call returns the upstream's result, decided for the oidc-provider user and client", async () => {
    const client = await connect();
    const result = (await client.callTool({ name: "read_text_file", arguments: { path: path.join(files, "notes.txt") } })) as CallToolResult;
    assert.equal(result.isError, undefined, textOf(result));
    assert.equal(textOf(result), "cedar decides\n");
    assert.equal(decisionOf(result)?.decision, "ALLOW");
    const record = (await pdp!.records()).find((r) => r.decisionId === decisionOf(result)?.decisionId);
    assert.ok(record, "the PDP recorded the decision");
    assert.equal(record.idp, oauth!.issuer);
    assert.equal(record.clientId, oauth!.clientId);
    const listing = (await client.callTool({ name: "list_directory", arguments: { path: files } })) as CallToolResult;
    assert.match(textOf(listing), /\[FILE\] notes\.txt/);
  });

  test("a denied call shows its reason, and the upstream never ran it", async () => {
    const client = await connect();
    const target = path.join(files, "written.txt");
    const result = (await client.callTool({ name: "write_file", arguments: { path: target, content: "should not exist" } })) as CallToolResult;
    assert.equal(result.isError, true);
    assert.match(textOf(result), /^DENY TOOL_NOT_GRANTED/);
    assert.equal(decisionOf(result)?.reasonCode, "TOOL_NOT_GRANTED");
    assert.throws(() => readFileSync(target), /ENOENT/);
  });

  test("revocation mid-task: the task session revoked through the PDP's AdminService, the next call is DENY", async () => {
    const client = await connect();
    const first = (await client.callTool({ name: "read_text_file", arguments: { path: path.join(files, "notes.txt") } })) as CallToolResult;
    assert.equal(decisionOf(first)?.decision, "ALLOW");
    const session = decisionOf(first)?.taskSession;
    assert.ok(session, "the decision names its task session");
    const admin = createClient(AdminService, pdp!.address);
    try {
      await admin.revoke({ target: { case: "sessionId", value: session }, reason: "test: revoked mid-task" });
      const next = (await client.callTool({ name: "read_text_file", arguments: { path: path.join(files, "notes.txt") } })) as CallToolResult;
      assert.equal(next.isError, true);
      assert.equal(decisionOf(next)?.decision, "DENY");
      assert.equal(decisionOf(next)?.reasonCode, "SESSION_REVOKED", textOf(next));
      assert.doesNotMatch(textOf(next), /cedar decides/);
      // A new task opens a new session and is allowed again; revoking the user (issuer + subject
      // of the oidc-provider token) then ends that session too: its next call is DENY.
      const other = await connect({ "x-task-id": "second-task" });
      const read = () => other.callTool({ name: "read_text_file", arguments: { path: path.join(files, "notes.txt") } }) as Promise<CallToolResult>;
      assert.equal(decisionOf(await read())?.decision, "ALLOW");
      await admin.revoke({ target: { case: "user", value: { issuer: oauth!.issuer, subject: oauth!.clientId } }, reason: "test: user revoked" });
      const refused = await read();
      assert.equal(refused.isError, true);
      assert.equal(decisionOf(refused)?.decision, "DENY", textOf(refused));
      assert.doesNotMatch(textOf(refused), /cedar decides/);
    } finally {
      admin.close();
    }
  });

  test("PDP down: the call is DENY PDP_UNAVAILABLE with its reason, the gateway stays up", async () => {
    // A new task (the revoked ones above stay refused by the gateway without asking the PDP).
    const client = await connect({ "x-task-id": "after-the-pdp-stopped" });
    await pdp!.close();
    pdp = undefined;
    const result = (await client.callTool({ name: "read_text_file", arguments: { path: path.join(files, "notes.txt") } })) as CallToolResult;
    assert.equal(result.isError, true);
    assert.equal(decisionOf(result)?.reasonCode, "PDP_UNAVAILABLE", textOf(result));
    assert.match(textOf(result), /^DENY PDP_UNAVAILABLE/);
    assert.doesNotMatch(textOf(result), /cedar decides/);
    await client.ping(); // relayed to the upstream: the gateway is still serving
    const again = (await client.callTool({ name: "list_directory", arguments: { path: files } })) as CallToolResult;
    assert.equal(decisionOf(again)?.reasonCode, "PDP_UNAVAILABLE");
  });

  test("no token reached the gateway's log", () => {
    assert.doesNotMatch(gatewayLog(), /eyJ[A-Za-z0-9_-]{10,}\./);
  });
});
