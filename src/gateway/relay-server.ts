import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPError } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { Server } from "@modelcontextprotocol/sdk/server/index.js";
import {
  CallToolRequestSchema,
  CompleteRequestSchema,
  ErrorCode,
  GetPromptRequestSchema,
  ListPromptsRequestSchema,
  ListResourcesRequestSchema,
  ListResourceTemplatesRequestSchema,
  ListToolsRequestSchema,
  McpError,
  PingRequestSchema,
  ReadResourceRequestSchema,
  SetLevelRequestSchema,
  type ServerCapabilities,
} from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import { decisionMeta } from "../pep/denial-result.js";
import type { CallerIdentity } from "../pep/request-identity.js";
import type { TaskSessions } from "../pep/task-sessions.js";
import type { UpstreamInfo } from "./upstream.js";

/** Any JSON-RPC result, relayed as the upstream wrote it. */
const anyResult = z.looseObject({});

/** JSON-RPC error code for "the upstream MCP server is unavailable" (server-defined range). */
export const UPSTREAM_UNAVAILABLE = -32002;

/** What the gateway advertises: the upstream's capabilities minus what it cannot relay without a session. */
export function relayedCapabilities(upstream: ServerCapabilities): ServerCapabilities {
  const caps: ServerCapabilities = {};
  if (upstream.tools) caps.tools = {};
  if (upstream.resources) caps.resources = {};
  if (upstream.prompts) caps.prompts = {};
  if (upstream.logging) caps.logging = {};
  if (upstream.completions) caps.completions = {};
  return caps;
}

/** Dependencies of {@link createRelayServer}. */
export interface RelayServerDeps {
  readonly client: Client;
  readonly info: UpstreamInfo;
  /** The caller of this HTTP request (the gateway builds one server per request). */
  readonly identity: CallerIdentity;
  readonly sessions: TaskSessions;
  /** Called when the upstream no longer knows the gateway's session (HTTP 404). */
  readonly onSessionLost?: () => void;
  /** Receives the upstream's unfiltered tools/list result (for `listDenied: "show"`). */
  readonly onToolList?: (result: Record<string, unknown>) => void;
}

/**
 * One MCP server (the SDK's low-level `Server`) for one HTTP request: every request method the
 * upstream supports is forwarded to it as is (method and params only — never the client's
 * headers or token), its result or JSON-RPC error is returned as is. Progress is relayed under the
 * client's own progress token; a cancelled request cancels the upstream one.
 *
 * Decisions are not made here: the PEP's guarded transport decides `tools/call`, `resources/read`
 * and `prompts/get` before this server sees them, and filters `tools/list`. This server filters
 * `resources/list` and `prompts/list` to what the caller's task session was granted.
 */
export function createRelayServer(deps: RelayServerDeps): Server {
  const { client, info } = deps;
  const server = new Server(info.serverInfo, {
    capabilities: relayedCapabilities(info.capabilities),
    ...(info.instructions && { instructions: info.instructions }),
  });

  const forward = async (
    request: { method: string; params?: Record<string, unknown> | undefined },
    extra: { signal: AbortSignal; sendNotification: (n: { method: "notifications/progress"; params: { progressToken: string | number; progress: number; total?: number; message?: string } }) => Promise<void> },
  ): Promise<Record<string, unknown>> => {
    const token = (request.params?._meta as { progressToken?: string | number } | undefined)?.progressToken;
    try {
      return await client.request({ method: request.method, ...(request.params && { params: request.params }) } as never, anyResult, {
        signal: extra.signal,
        ...(token !== undefined && {
          resetTimeoutOnProgress: true,
          onprogress: (p) => void extra.sendNotification({ method: "notifications/progress", params: { ...p, progressToken: token } }).catch(() => {}),
        }),
      });
    } catch (err) {
      if (err instanceof StreamableHTTPError && err.code === 404) deps.onSessionLost?.();
      if (err instanceof McpError && err.code !== ErrorCode.ConnectionClosed && err.code !== ErrorCode.RequestTimeout) throw err;
      throw new McpError(UPSTREAM_UNAVAILABLE, `the upstream MCP server did not answer: ${(err as Error).message}`);
    }
  };

  /** Keeps the listed items the caller's task session was granted (none if it could not open). */
  const granted = async <T>(items: readonly T[], key: (item: T) => string): Promise<{ items: T[]; meta?: Record<string, unknown> }> => {
    const lease = await deps.sessions.acquire(deps.identity);
    if (!lease.ok) return { items: [], meta: decisionMeta(lease.decision) };
    return { items: items.filter((item) => !deps.sessions.refusedGrant(deps.identity, key(item))) };
  };

  server.setRequestHandler(PingRequestSchema, (r, extra) => forward(r, extra));
  if (info.capabilities.tools) {
    server.setRequestHandler(ListToolsRequestSchema, async (r, extra) => {
      const result = await forward(r, extra);
      deps.onToolList?.(result);
      return result as never;
    });
    server.setRequestHandler(CallToolRequestSchema, (r, extra) => forward(r, extra) as never);
  }
  if (info.capabilities.resources) {
    server.setRequestHandler(ListResourcesRequestSchema, async (r, extra) => {
      const result = await forward(r, extra);
      const list = Array.isArray(result.resources) ? (result.resources as { uri?: unknown }[]) : [];
      const kept = await granted(list, (x) => String(x.uri));
      return { ...result, resources: kept.items, ...(kept.meta && { _meta: { ...(result._meta as object), ...kept.meta } }) } as never;
    });
    server.setRequestHandler(ListResourceTemplatesRequestSchema, (r, extra) => forward(r, extra) as never);
    server.setRequestHandler(ReadResourceRequestSchema, (r, extra) => forward(r, extra) as never);
  }
  if (info.capabilities.prompts) {
    server.setRequestHandler(ListPromptsRequestSchema, async (r, extra) => {
      const result = await forward(r, extra);
      const list = Array.isArray(result.prompts) ? (result.prompts as { name?: unknown }[]) : [];
      const kept = await granted(list, (x) => `prompt:${String(x.name)}`);
      return { ...result, prompts: kept.items, ...(kept.meta && { _meta: { ...(result._meta as object), ...kept.meta } }) } as never;
    });
    server.setRequestHandler(GetPromptRequestSchema, (r, extra) => forward(r, extra) as never);
  }
  if (info.capabilities.logging) server.setRequestHandler(SetLevelRequestSchema, (r, extra) => forward(r, extra) as never);
  if (info.capabilities.completions) server.setRequestHandler(CompleteRequestSchema, (r, extra) => forward(r, extra) as never);
  return server;
}
