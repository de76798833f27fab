/**
 * An MCP client for the docs server with the official SDK: Streamable HTTP, the user's token in
 * `Authorization`, the agent's workload token in `X-Workload-Token`, the client id and the purpose
 * in `X-MCP-Client-Id` / `X-Task-Purpose`, and optionally a task-session handle or task id.
 */
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { META_DECISION, META_TASK_SESSION, type PepDecision } from "../../src/pep/index.js";

/** Who the client speaks for. */
export interface DocsClientIdentity {
  readonly userToken: string;
  readonly workloadToken: string;
  readonly clientId: string;
  readonly purpose: string;
  /** A task-session handle to present (`X-Task-Session`). */
  readonly taskSession?: string;
  /** A task id (`X-Task-Id`) to tell tasks of the same context apart. */
  readonly taskId?: string;
}

/** The headers the PEP reads, for this identity. */
export function pepHeaders(id: DocsClientIdentity): Record<string, string> {
  return {
    authorization: `Bearer ${id.userToken}`,
    "x-workload-token": id.workloadToken,
    "x-mcp-client-id": id.clientId,
    "x-task-purpose": id.purpose,
    ...(id.taskSession && { "x-task-session": id.taskSession }),
    ...(id.taskId && { "x-task-id": id.taskId }),
  };
}

/** Connects an SDK client to the docs server at `url` (e.g. `http://127.0.0.1:8787/mcp`). */
export async function connectDocsClient(url: string, id: DocsClientIdentity, name = "docs-client"): Promise<Client> {
  const client = new Client({ name, version: "1.0.0" });
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: pepHeaders(id) } }));
  return client;
}

/** The PEP decision a tool result carries (`_meta["io.mcp-pdp/decision"]`), if any. */
export function decisionOf(result: { _meta?: Record<string, unknown> | undefined }): PepDecision | undefined {
  return result._meta?.[META_DECISION] as PepDecision | undefined;
}

/** The task-session handle a result carries, if any. */
export function taskSessionOf(result: { _meta?: Record<string, unknown> | undefined }): string | undefined {
  return result._meta?.[META_TASK_SESSION] as string | undefined;
}

/** The text of a tool result. */
export function textOf(result: CallToolResult | Record<string, unknown>): string {
  const content = (result as CallToolResult).content ?? [];
  return content.map((c) => (c.type === "text" ? c.text : `[${c.type}]`)).join("\n");
}
