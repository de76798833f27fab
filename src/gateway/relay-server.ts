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
  SubscribeRequestSchema,
  UnsubscribeRequestSchema,
  type RequestId,
  type ServerCapabilities,
  type ServerNotification,
  type ServerRequest,
} from "@modelcontextprotocol/sdk/types.js";
import type { RequestHandlerExtra } from "@modelcontextprotocol/sdk/shared/protocol.js";
import { z } from "zod";
import { FORBIDDEN_ERROR_CODE, decisionMeta } from "../pep/denial-result.js";
import type { CallerIdentity } from "../pep/request-identity.js";
import type { TaskSessions } from "../pep/task-sessions.js";
import type { UpstreamInfo } from "./upstream.js";

/** Any JSON-RPC result, relayed as the upstream wrote it. */
const anyResult = z.looseObject({});

/** JSON-RPC error code for "the upstream MCP server is unavailable" (server-defined range). */
export const UPSTREAM_UNAVAILABLE = -32002;


/**
 * What the gateway advertises: the upstream's capabilities; without a client session (a stateless
 * request) minus what needs one — list-changed notifications and resource subscriptions.
 */
export function relayedCapabilities(upstream: ServerCapabilities, session = false): ServerCapabilities {
  const caps: ServerCapabilities = {};
  const changes = (c: { listChanged?: boolean } | undefined) => (session && c?.listChanged ? { listChanged: true } : {});
  if (upstream.tools) caps.tools = changes(upstream.tools);
  if (upstream.resources) caps.resources = { ...changes(upstream.resources), ...(session && upstream.resources.subscribe && { subscribe: true }) };
  if (upstream.prompts) caps.prompts = changes(upstream.prompts);
  if (upstream.logging) caps.logging = {};
  if (upstream.completions) caps.completions = {};
  return caps;
}

/** Dependencies of {@link createRelayServer}. */
export interface RelayServerDeps {
  /** The upstream connection to forward to (read per request: a shared one may have reconnected). */
  readonly client: () => Promise<Client>;
  readonly info: UpstreamInfo;
  /** The caller of the request being handled (from its transport extras). */
  readonly identify: (extra: RequestHandlerExtra<ServerRequest, ServerNotification>) => CallerIdentity;
  /**
   * With a client session: subscriptions go here (counted on a shared connection, forwarded on
   * the session's own), and the server advertises `resources.subscribe` and `listChanged`.
   */
  readonly subscriptions?: {
    subscribe(uri: string): Promise<void>;
    unsubscribe(uri: string): Promise<void>;
  };
  readonly sessions: TaskSessions;
  /** Called when the upstream no longer knows the gateway's session (HTTP 404). */
  readonly onSessionLost?: () => void;
  /** Ids of the client's requests being forwarded now (a client session relates server→client requests to them). */
  readonly inFlight?: Set<RequestId>;
  /** Receives the upstream's unfiltered tools/list result (for `listDenied: "show"`). */
  readonly onToolList?: (result: Record<string, unknown>) => void;
}

/**
 * One MCP server (the SDK's low-level `Server`) for one client session, or for one HTTP request
 * without a session: every request method the
 * upstream supports is forwarded to it as is (method and params only — never the client's
 * headers or token), its result or JSON-RPC error is returned as is. Progress is relayed under the
 * client's own progress token; a cancelled request cancels the upstream one.
 *
 * Decisions are not made here: the PEP's guarded transport decides `tools/call`, `resources/read`
 * and `prompts/get` before this server sees them, and filters `tools/list`. This server filters
 * `resources/list` and `prompts/list` to what the caller's task session was granted.
 */
export function createRelayServer(deps: RelayServerDeps): Server {
  const { info } = deps;
  const server = new Server(info.serverInfo, {
    capabilities: relayedCapabilities(info.capabilities, deps.subscriptions !== undefined),
    ...(info.instructions && { instructions: info.instructions }),
  });

  /** An upstream failure as the client should see it: the upstream's own MCP error, else -32002. */
  const upstreamCall = async <T>(call: () => Promise<T>): Promise<T> => {
    try {
      return await call();
    } catch (err) {
      if (err instanceof StreamableHTTPError && err.code === 404) deps.onSessionLost?.();
      if (err instanceof McpError && err.code !== ErrorCode.ConnectionClosed && err.code !== ErrorCode.RequestTimeout) throw err;
      throw new McpError(UPSTREAM_UNAVAILABLE, `the upstream MCP server did not answer: ${(err as Error).message}`);
    }
  };

  const forward = async (
    request: { method: string; params?: Record<string, unknown> | undefined },
    extra: { signal: AbortSignal; requestId: RequestId; sendNotification: (n: { method: "notifications/progress"; params: { progressToken: string | number; progress: number; total?: number; message?: string } }) => Promise<void> },
  ): Promise<Record<string, unknown>> => {
    const token = (request.params?._meta as { progressToken?: string | number } | undefined)?.progressToken;
    deps.inFlight?.add(extra.requestId);
    return upstreamCall(async () =>
      (await deps.client()).request({ method: request.method, ...(request.params && { params: request.params }) } as never, anyResult, {
        signal: extra.signal,
        ...(token !== undefined && {
          resetTimeoutOnProgress: true,
          onprogress: (p) => void extra.sendNotification({ method: "notifications/progress", params: { ...p, progressToken: token } }).catch(() => {}),
        }),
      }),
    ).finally(() => deps.inFlight?.delete(extra.requestId));
  };

  /** Keeps the listed items the caller's task session was granted (none if it could not open). */
  const granted = async <T>(identity: CallerIdentity, items: readonly T[], key: (item: T) => string): Promise<{ items: T[]; meta?: Record<string, unknown> }> => {
    const lease = await deps.sessions.acquire(identity);
    if (!lease.ok) return { items: [], meta: decisionMeta(lease.decision) };
    return { items: items.filter((item) => !deps.sessions.refusedGrant(identity, key(item))) };
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
      const kept = await granted(deps.identify(extra), list, (x) => String(x.uri));
      return { ...result, resources: kept.items, ...(kept.meta && { _meta: { ...(result._meta as object), ...kept.meta } }) } as never;
    });
    server.setRequestHandler(ListResourceTemplatesRequestSchema, (r, extra) => forward(r, extra) as never);
    server.setRequestHandler(ReadResourceRequestSchema, (r, extra) => forward(r, extra) as never);
    const subscriptions = deps.subscriptions;
    if (subscriptions && info.capabilities.resources.subscribe) {
      // A subscription tells the client when a resource changed (its URI only; reading it is
      // decided as ever). Refused for a resource the caller's task session was refused.
      const subscribable = async (uri: string, extra: RequestHandlerExtra<ServerRequest, ServerNotification>): Promise<void> => {
        const identity = deps.identify(extra);
        const lease = await deps.sessions.acquire(identity);
        const refused = lease.ok ? deps.sessions.refusedGrant(identity, uri) : undefined;
        if (!lease.ok) throw new McpError(FORBIDDEN_ERROR_CODE, lease.decision.message, decisionMeta(lease.decision));
        if (refused) throw new McpError(FORBIDDEN_ERROR_CODE, `resource "${uri}" was refused when the task session opened: ${refused.reasonCode}`, { reasonCode: refused.reasonCode, reasons: refused.reasons });
      };
      server.setRequestHandler(SubscribeRequestSchema, async (r, extra) => {
        await subscribable(r.params.uri, extra);
        await upstreamCall(() => subscriptions.subscribe(r.params.uri));
        return {};
      });
      server.setRequestHandler(UnsubscribeRequestSchema, async (r) => {
        await upstreamCall(() => subscriptions.unsubscribe(r.params.uri));
        return {};
      });
    }
  }
  if (info.capabilities.prompts) {
    server.setRequestHandler(ListPromptsRequestSchema, async (r, extra) => {
      const result = await forward(r, extra);
      const list = Array.isArray(result.prompts) ? (result.prompts as { name?: unknown }[]) : [];
      const kept = await granted(deps.identify(extra), list, (x) => `prompt:${String(x.name)}`);
      return { ...result, prompts: kept.items, ...(kept.meta && { _meta: { ...(result._meta as object), ...kept.meta } }) } as never;
    });
    server.setRequestHandler(GetPromptRequestSchema, (r, extra) => forward(r, extra) as never);
  }
  if (info.capabilities.logging) server.setRequestHandler(SetLevelRequestSchema, (r, extra) => forward(r, extra) as never);
  if (info.capabilities.completions) server.setRequestHandler(CompleteRequestSchema, (r, extra) => forward(r, extra) as never);
  return server;
}
