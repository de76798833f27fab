/**
 * Agent attestation through the gateway, with real tokens from `oidc-provider`: a stock client's
 * bearer names no agent (the gateway presents its own stand-in, policy sees
 * `agent_attestation == "client"`) and is refused a high-impact tool although the tool allowlist
 * permits it; a token whose RFC 8693 `act.sub` names the agent ("act") is allowed the same call.
 * The upstream is `@modelcontextprotocol/server-filesystem` (stdio), whose `write_file` is marked
 * high-impact (label `egress`) in the test's entities.
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
import { devIdentityConfig } from "../../src/identity/dev-issuer.js";
import { META_DECISION, type PepDecision } from "../../src/pep/index.js";
import { startOidcProvider, type OidcProvider } from "../support/oidc-provider.js";
import { startTestPdp, type TestPdp } from "../support/pdp.js";
import { captureLogger, filesCedar } from "./support/gateway-stack.js";

const RESOURCE = "https://files.example/mcp";
const AGENT = "spiffe://dev.mcp-pdp.local/agent/research-assistant";
const FILESYSTEM = path.join(path.dirname(createRequire(import.meta.url).resolve("@modelcontextprotocol/server-filesystem/package.json")), "dist", "index.js");

const decisionOf = (r: { _meta?: Record<string, unknown> }) => r._meta?.[META_DECISION] as PepDecision | undefined;
const textOf = (r: CallToolResult) => (r.content[0] as { text: string }).text;

describe("gateway: agent attestation decides high-impact tools (tokens from oidc-provider)", { timeout: 120_000 }, () => {
  let oauth: OidcProvider | undefined;
  let pdp: TestPdp | undefined;
  let gateway: Gateway | undefined;
  let files: string;
  const clients: Client[] = [];
  const { logger } = captureLogger();

  before(async () => {
    files = mkdtempSync(path.join(tmpdir(), "mcp-pdp-attest-"));
    writeFileSync(path.join(files, "notes.txt"), "cedar decides\n");
    oauth = await startOidcProvider({ resources: [RESOURCE], actor: AGENT });
    const dev = devIdentityConfig();
    pdp = await startTestPdp({
      cedarDir: filesCedar(RESOURCE, oauth.issuer),
      identity: {
        ...dev,
        userIssuers: [{ issuer: oauth.issuer, jwksUri: oauth.jwksUri }],
        // The OAuth server vouches for the agents of the dev trust domain it names in `act`.
        workloadIssuers: [...dev.workloadIssuers, { issuer: oauth.issuer, jwksUri: oauth.jwksUri, trustDomains: ["dev.mcp-pdp.local"] }],
      },
    });
    const config = loadGatewayConfig({
      env: {},
      overrides: {
        port: 0,
        resource: RESOURCE,
        pdp: { address: pdp.address, timeoutMs: 2000, openSessionTimeoutMs: 4000 },
        // The gateway's own stand-in agent is a research agent too: only attestation differs.
        agent: { devAgent: AGENT },
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

  const connect = async (token: string): Promise<Client> => {
    const client = new Client({ name: "stock-client", version: "1.0.0" });
    clients.push(client);
    await client.connect(new StreamableHTTPClientTransport(new URL(gateway!.url), { requestInit: { headers: { authorization: `Bearer ${token}` } } }));
    return client;
  };
  const write = (client: Client, name: string) =>
    client.callTool({ name: "write_file", arguments: { path: path.join(files, name), content: "written\n" } }) as Promise<CallToolResult>;

  test("a client-only token (no act) is refused the high-impact tool, with the policy's reason; the harmless tool still runs", async () => {
    const client = await connect(await oauth!.getToken(RESOURCE));
    const read = (await client.callTool({ name: "read_text_file", arguments: { path: path.join(files, "notes.txt") } })) as CallToolResult;
    assert.equal(decisionOf(read)?.decision, "ALLOW", textOf(read));
    const result = await write(client, "by-client.txt");
    assert.equal(result.isError, true);
    assert.equal(decisionOf(result)?.decision, "DENY", textOf(result));
    assert.ok(
      decisionOf(result)?.reasons.some((r) => r.policyId === "high-impact-requires-attested-agent"),
      `the denial names the attestation policy: ${JSON.stringify(decisionOf(result))}`,
    );
    assert.throws(() => readFileSync(path.join(files, "by-client.txt")), /ENOENT/);
  });

  test("a token whose act.sub names the agent is allowed the same high-impact call", async () => {
    const client = await connect(await oauth!.getActorToken(RESOURCE));
    const result = await write(client, "by-agent.txt");
    assert.equal(decisionOf(result)?.decision, "ALLOW", textOf(result));
    assert.equal(readFileSync(path.join(files, "by-agent.txt"), "utf8"), "written\n");
    const record = (await pdp!.records()).find((r) => r.decisionId === decisionOf(result)?.decisionId);
    assert.ok(record, "the PDP recorded the decision");
    assert.equal(record.agentId, AGENT);
    assert.equal(record.clientId, oauth!.actorClientId);
  });
});
