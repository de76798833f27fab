import type { JsonObject } from "@bufbuild/protobuf";
import { Action, ReasonCode } from "../gen/mcppdp/v1/common_pb.js";
import type { PdpClient } from "./pdp-client.js";
import { decisionFromResponse, reasonCodeName, refusal, type PepDecision } from "./pep-decision.js";
import { PepError } from "./pep-error.js";
import type { CallerIdentity } from "./request-identity.js";
import type { TaskSessions } from "./task-sessions.js";
import { traceContextOfParams, type TraceContext } from "./trace-context.js";

/** The MCP methods the PEP decides on before they reach the server. */
export const GUARDED_METHODS = ["tools/call", "resources/read", "prompts/get"] as const;

/** One of {@link GUARDED_METHODS}. */
export type GuardedMethod = (typeof GUARDED_METHODS)[number];

/** Whether a JSON-RPC method is one the PEP decides on. */
export function isGuardedMethod(method: string): method is GuardedMethod {
  return (GUARDED_METHODS as readonly string[]).includes(method);
}

/** What the tools/list filter found out. */
export interface VisibleTools {
  /** The tool names this caller may see now (fail closed: empty on any refusal or failure). */
  readonly tools: ReadonlySet<string>;
  /** Why the list is empty, when the whole request was refused. */
  readonly refusal?: PepDecision;
  readonly taskSession?: string;
}

/** Dependencies of {@link createGuard}. */
export interface GuardDeps {
  readonly pdp: PdpClient;
  readonly sessions: TaskSessions;
  readonly serverId: string;
  /** The resource a tool call targets, sent as `resource_uri` (optional). */
  readonly resourceOf?: (tool: string, args: JsonObject) => string | undefined;
  /** Called with every decision the guard makes (for logs or metrics; must not throw). */
  readonly onDecision?: (event: { readonly method: string; readonly item: string; readonly decision: PepDecision }) => void;
}

/** The decision logic shared by the transport guard and the HTTP handler. Never throws. */
export interface Guard {
  /**
   * Decides one guarded MCP request. A W3C trace context in `params._meta` (`traceparent`,
   * `tracestate`) goes to the PDP with every call made for it.
   */
  decide(identity: CallerIdentity, method: GuardedMethod, params: unknown): Promise<PepDecision>;
  /** Which of these tools the caller may see (FilterTools), sent with the tools/list request's trace context. */
  visibleTools(identity: CallerIdentity, names: readonly string[], trace?: TraceContext): Promise<VisibleTools>;
}

function asObject(value: unknown): Record<string, unknown> {
  return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : {};
}

/** Creates the guard. */
export function createGuard(deps: GuardDeps): Guard {
  // TOOL_NOT_GRANTED names no policy; the OpenSession refusal of that item did. Say which.
  const explainNotGranted = (identity: CallerIdentity, decision: PepDecision, item: string): PepDecision => {
    const refused = deps.sessions.refusedGrant(identity, item);
    if (!refused) return decision;
    return { ...decision, reasons: refused.reasons, message: `${decision.message} (refused when the task session opened: ${refused.reasonCode})` };
  };

  /** The identity fields every PDP question carries (the tokens go to the PDP and nowhere else). */
  const asked = (identity: CallerIdentity, sessionId: string, trace: TraceContext | undefined) => ({
    ...(trace && { trace }),
    sessionId,
    userToken: identity.userToken,
    workloadToken: identity.workloadToken,
    clientId: identity.clientId,
    serverId: deps.serverId,
    purpose: identity.purpose,
    ...(identity.agentStandIn && { agentStandIn: true }),
  });

  const ask = async (identity: CallerIdentity, method: GuardedMethod, params: unknown): Promise<PepDecision> => {
    const p = asObject(params);
    const name = typeof p.name === "string" ? p.name : "";
    const args = asObject(p.arguments) as JsonObject;
    const trace = traceContextOfParams(params);
    const question =
      method === "tools/call"
        ? { action: Action.CALL_TOOL, tool: name, arguments: args, resourceUri: deps.resourceOf?.(name, args) ?? "" }
        : method === "prompts/get"
          ? { action: Action.GET_PROMPT, tool: name, arguments: args }
          : { action: Action.READ_RESOURCE, resourceUri: typeof p.uri === "string" ? p.uri : "" };
    for (let attempt = 0; ; attempt++) {
      const lease = await deps.sessions.acquire(identity, trace);
      if (!lease.ok) return lease.decision;
      let decision: PepDecision;
      try {
        const res = await deps.pdp.authorize({ ...asked(identity, lease.handle, trace), ...question });
        decision = decisionFromResponse(res, lease.handle);
      } catch (err) {
        // Unknown outcome: never asked again (the PDP may have recorded it). Refuse.
        return refusal("PDP_UNAVAILABLE", PepError.from(err, "Authorize").message, { taskSession: lease.handle });
      }
      if (lease.source === "presented" || decision.allowed) return decision;
      if (decision.reasonCode === "TOOL_NOT_GRANTED") return explainNotGranted(identity, decision, question.tool ?? question.resourceUri ?? "");
      // A kept session that ended by itself (or a PDP that forgot it) is replaced once.
      if (deps.sessions.settle(identity, lease.handle, decision.reasonCode) === "reopen" && attempt === 0) continue;
      return decision;
    }
  };

  return {
    async decide(identity, method, params) {
      const decision = await ask(identity, method, params);
      const p = asObject(params);
      try {
        deps.onDecision?.({ method, item: String(p.name ?? p.uri ?? ""), decision });
      } catch {
        // an observer never changes a decision
      }
      return decision;
    },

    async visibleTools(identity, names, trace) {
      for (let attempt = 0; ; attempt++) {
        const lease = await deps.sessions.acquire(identity, trace);
        if (!lease.ok) return { tools: new Set(), refusal: lease.decision };
        try {
          const res = await deps.pdp.filterTools({ ...asked(identity, lease.handle, trace), tools: names });
          if (res.reasonCode === ReasonCode.ALLOWED) return { tools: new Set(res.tools), taskSession: lease.handle };
          const code = reasonCodeName(res.reasonCode);
          if (lease.source !== "presented" && deps.sessions.settle(identity, lease.handle, code) === "reopen" && attempt === 0) continue;
          return {
            tools: new Set(),
            refusal: refusal(code, res.message, { decisionId: res.decisionId, policyVersion: res.policyVersion, taskSession: lease.handle }),
            taskSession: lease.handle,
          };
        } catch (err) {
          return { tools: new Set(), refusal: refusal("PDP_UNAVAILABLE", PepError.from(err, "FilterTools").message) };
        }
      }
    },
  };
}
