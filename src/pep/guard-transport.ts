import type { McpToolDefinition, ToolReporter } from "./tool-reporter.js";
import type { Transport, TransportSendOptions } from "@modelcontextprotocol/sdk/shared/transport.js";
import {
  isJSONRPCRequest,
  isJSONRPCResultResponse,
  type JSONRPCMessage,
  type JSONRPCRequest,
  type MessageExtraInfo,
  type RequestId,
} from "@modelcontextprotocol/sdk/types.js";
import { decisionMeta, forbiddenError, toolErrorResult } from "./denial-result.js";
import { refusal, type PepDecision } from "./pep-decision.js";
import { isGuardedMethod, type Guard } from "./pep-guard.js";
import { withoutSecrets, type CallerIdentity } from "./request-identity.js";
import { traceContextOfParams, type TraceContext } from "./trace-context.js";

/** A decision the HTTP layer already made for one JSON-RPC request (so the PDP is asked once). */
export interface PreDecision {
  readonly id: RequestId;
  readonly method: string;
  readonly decision: PepDecision;
}

/** Dependencies of {@link guardTransport}. */
export interface GuardTransportDeps {
  readonly guard: Guard;
  /** Who is asking, from the message's transport extras (HTTP headers, or whatever stdio supplies). */
  readonly identify: (extra: MessageExtraInfo | undefined) => CallerIdentity;
  /** Decisions made by the HTTP layer, keyed by the `authInfo` object it attached to the request. */
  readonly preDecisions: WeakMap<object, PreDecision>;
  /**
   * Reports the server's tool list to the PDP when it changed (before the list is filtered, so
   * the sessions it grants pin the definitions the client is shown). A failed report is passed to
   * `onReportError`; the list is still filtered, and the next list is reported again.
   */
  readonly reporter?: ToolReporter;
  readonly onReportError?: (err: unknown) => void;
}

/** What the server's own code may see: the same extras without the credential headers or token. */
function sanitized(extra: MessageExtraInfo | undefined): MessageExtraInfo | undefined {
  if (!extra) return extra;
  return {
    ...extra,
    ...(extra.requestInfo && { requestInfo: { ...extra.requestInfo, headers: withoutSecrets(extra.requestInfo.headers) } }),
    ...(extra.authInfo && { authInfo: { ...extra.authInfo, token: "" } }),
  };
}

/**
 * Wraps an MCP transport so that every `tools/call`, `resources/read` and `prompts/get` is decided
 * by the PDP before the server sees it, and every `tools/list` answer is filtered by FilterTools.
 *
 * It uses only the SDK's public `Transport` interface, so it guards any server built with the SDK
 * (`McpServer` or the low-level `Server`) on any transport: `server.connect(guardTransport(t))`.
 * A refused request never reaches the server's handler: a refused tool call is answered with an
 * MCP tool error (`isError: true`), a refused resource read or prompt with JSON-RPC error -32003;
 * both carry the decision in `_meta`/`data` under `io.mcp-pdp/decision`. Handlers never see the
 * user's token or the workload token (removed from `requestInfo.headers` and `authInfo`).
 */
export function guardTransport(inner: Transport, deps: GuardTransportDeps): Transport {
  let handler: Transport["onmessage"];
  const pendingLists = new Map<RequestId, { identity: CallerIdentity; trace: TraceContext | undefined }>();
  const allowed = new Map<RequestId, PepDecision>();

  const refuse = async (request: JSONRPCRequest, decision: PepDecision): Promise<void> => {
    const reply: JSONRPCMessage =
      request.method === "tools/call"
        ? { jsonrpc: "2.0", id: request.id, result: toolErrorResult(decision) }
        : { jsonrpc: "2.0", id: request.id, error: forbiddenError(decision) };
    await inner.send(reply, { relatedRequestId: request.id });
  };

  const decideThenDeliver = async (request: JSONRPCRequest, extra: MessageExtraInfo | undefined): Promise<void> => {
    const pre = extra?.authInfo ? deps.preDecisions.get(extra.authInfo) : undefined;
    let decision: PepDecision;
    if (pre && pre.id === request.id && pre.method === request.method) {
      decision = pre.decision;
    } else {
      decision = await deps.guard.decide(deps.identify(extra), request.method as Parameters<Guard["decide"]>[1], request.params);
    }
    if (!decision.allowed) return refuse(request, decision);
    allowed.set(request.id, decision);
    handler?.(request, sanitized(extra));
  };

  const receive = (message: JSONRPCMessage, extra?: MessageExtraInfo): void => {
    if (!isJSONRPCRequest(message)) {
      // A cancelled request gets no response: forget what was kept for it.
      if ("method" in message && message.method === "notifications/cancelled") {
        const id = (message.params as { requestId?: RequestId } | undefined)?.requestId;
        if (id !== undefined) {
          allowed.delete(id);
          pendingLists.delete(id);
        }
      }
      return handler?.(message, sanitized(extra));
    }
    if (message.method === "tools/list") {
      pendingLists.set(message.id, { identity: deps.identify(extra), trace: traceContextOfParams(message.params) });
      return handler?.(message, sanitized(extra));
    }
    if (!isGuardedMethod(message.method)) return handler?.(message, sanitized(extra));
    decideThenDeliver(message, extra).catch((err: unknown) => {
      inner.onerror?.(err instanceof Error ? err : new Error(String(err)));
      // Whatever failed, the request is refused rather than left unanswered or run.
      void refuse(message, refusal("INTERNAL_ERROR", "the enforcement point failed to decide")).catch(() => {});
    });
  };

  const shape = async (message: JSONRPCMessage): Promise<JSONRPCMessage> => {
    if (!("id" in message) || message.id === undefined || "method" in message) return message;
    const listFor = pendingLists.get(message.id);
    if (listFor) {
      pendingLists.delete(message.id);
      if (!isJSONRPCResultResponse(message) || !Array.isArray(message.result.tools)) return message;
      const tools = message.result.tools as { name?: unknown }[];
      if (deps.reporter) await deps.reporter.report(tools.filter((t): t is McpToolDefinition => typeof t.name === "string")).catch((err: unknown) => deps.onReportError?.(err));
      const visible = await deps.guard.visibleTools(
        listFor.identity,
        tools.map((t) => String(t.name)),
        listFor.trace,
      );
      const meta = {
        ...(message.result._meta ?? {}),
        ...(visible.refusal && decisionMeta(visible.refusal)),
        ...(visible.taskSession && { "io.mcp-pdp/task-session": visible.taskSession }),
      };
      return { ...message, result: { ...message.result, tools: tools.filter((t) => visible.tools.has(String(t.name))), _meta: meta } };
    }
    const decision = allowed.get(message.id);
    if (decision) {
      allowed.delete(message.id);
      if (isJSONRPCResultResponse(message)) {
        return { ...message, result: { ...message.result, _meta: { ...(message.result._meta ?? {}), ...decisionMeta(decision) } } };
      }
    }
    return message;
  };

  return {
    start: () => inner.start(),
    close: () => {
      allowed.clear();
      pendingLists.clear();
      return inner.close();
    },
    send: async (message: JSONRPCMessage, options?: TransportSendOptions) => inner.send(await shape(message), options),
    get onclose() {
      return inner.onclose;
    },
    set onclose(fn) {
      inner.onclose = fn;
    },
    get onerror() {
      return inner.onerror;
    },
    set onerror(fn) {
      inner.onerror = fn;
    },
    get onmessage() {
      return handler;
    },
    set onmessage(fn) {
      handler = fn;
      inner.onmessage = fn ? (receive as Transport["onmessage"]) : undefined;
    },
    get sessionId() {
      return inner.sessionId;
    },
    ...(inner.setProtocolVersion && { setProtocolVersion: (v: string) => inner.setProtocolVersion!(v) }),
  } as Transport;
}
