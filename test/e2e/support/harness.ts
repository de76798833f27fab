/**
 * End-to-end harness: a real PDP (in-process, gRPC on loopback), the example docs MCP server
 * (Streamable HTTP on loopback, guarded by the PEP), and official SDK clients with real tokens.
 */
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { mintDevToken } from "../../../src/identity/dev-issuer.js";
import type { PepDecision } from "../../../src/pep/index.js";
import { connectDocsClient, decisionOf, type DocsClientIdentity } from "../../../examples/docs-server/docs-client.js";
import { startDocsServer, type DocsServer, type DocsServerOptions } from "../../../examples/docs-server/start-docs-server.js";
import { startTestPdp, type TestPdp } from "../../support/pdp.js";

export const SERVER = "https://docs.example.com/mcp";
export const ASSISTANT = "spiffe://dev.mcp-pdp.local/agent/research-assistant";
export const NOTIFIER = "spiffe://dev.mcp-pdp.local/agent/research-notifier";

/** Who a test client speaks for (dev-issuer tokens are minted from this). */
export interface As {
  readonly user?: string;
  readonly agent?: string;
  readonly client?: string;
  readonly purpose?: string;
  readonly scopes?: readonly string[];
  readonly taskSession?: string;
  readonly taskId?: string;
}

/** Mints dev-issuer tokens and the PEP headers for `as`. */
export async function devIdentity(as: As = {}): Promise<DocsClientIdentity> {
  const clientId = as.client ?? "dev-client";
  return {
    userToken: await mintDevToken("user", { audience: SERVER, clientId, ...(as.user && { subject: as.user }), ...(as.scopes && { scopes: as.scopes }) }),
    workloadToken: await mintDevToken("workload", { subject: as.agent ?? ASSISTANT }),
    clientId,
    purpose: as.purpose ?? "research",
    ...(as.taskSession && { taskSession: as.taskSession }),
    ...(as.taskId && { taskId: as.taskId }),
  };
}

/** A PDP plus the docs server in front of it. */
export interface Stack {
  readonly pdp: TestPdp;
  readonly docs: DocsServer;
  /** Connects an SDK client as `as` (closed by `close()`). */
  connect(as?: As | DocsClientIdentity): Promise<Client>;
  close(): Promise<void>;
}

/** Starts the stack; `pdpOverrides` go to `startTestPdp`. */
export async function startStack(
  pdpOverrides: Parameters<typeof startTestPdp>[0] = {},
  docsOptions: Partial<DocsServerOptions> = {},
): Promise<Stack> {
  const pdp = await startTestPdp(pdpOverrides);
  const docs = await startDocsServer({ pdp: { address: pdp.address }, ...docsOptions });
  const clients: Client[] = [];
  return {
    pdp,
    docs,
    async connect(as = {}) {
      const id = "userToken" in as ? as : await devIdentity(as);
      const client = await connectDocsClient(docs.url, id);
      clients.push(client);
      return client;
    },
    async close() {
      await Promise.allSettled(clients.map((c) => c.close()));
      await docs.close();
      await pdp.close();
    },
  };
}

/** Calls a tool and returns the result with the PEP decision it carries. */
export async function call(client: Client, name: string, args: Record<string, unknown> = {}): Promise<{ result: CallToolResult; decision: PepDecision }> {
  const result = (await client.callTool({ name, arguments: args })) as CallToolResult;
  const decision = decisionOf(result);
  if (!decision) throw new Error(`no PEP decision on the result of ${name}: ${JSON.stringify(result)}`);
  return { result, decision };
}

/** The tool names of a tools/list answer. */
export async function toolNames(client: Client): Promise<string[]> {
  return (await client.listTools()).tools.map((t) => t.name);
}
