import { timestampFromDate, timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { DecisionCore } from "../decision/decision-core.js";
import type { AuthorizeQuestion, FilterToolsQuestion, ItemKind } from "../decision/types.js";
import type { ToolReport } from "../decision/report-tools.js";
import type { AuthorizationService, AuthorizeRequest, FilterToolsRequest, ReportToolsRequest, ToolDefinition as ProtoToolDefinition } from "../gen/mcppdp/v1/authorization_pb.js";
import { PdpError } from "../errors.js";
import type { ToolAnnotations, ToolDefinition } from "../policy/tool-definitions.js";
import { Action } from "../gen/mcppdp/v1/common_pb.js";
import type { Decoded } from "../grpc/service-definition.js";
import { delegation, protoOutcome, protoReason } from "./proto-shapes.js";
import type { ServiceHandlers } from "./unary.js";

type Methods = typeof AuthorizationService extends { method: infer M } ? M : never;

const ACTIONS: Partial<Record<Action, ItemKind>> = {
  [Action.CALL_TOOL]: "tool",
  [Action.READ_RESOURCE]: "resource",
  [Action.GET_PROMPT]: "prompt",
};

/** An Authorize message as the core's question; one that did not decode asks nothing (refused as INVALID_REQUEST). */
function authorizeQuestion(r: Decoded<AuthorizeRequest>): AuthorizeQuestion {
  const m = r.ok ? r.message : undefined;
  return {
    ...delegation(r),
    sessionId: m?.sessionId ?? "",
    action: m && ACTIONS[m.action],
    tool: m?.tool ?? "",
    resourceUri: m?.resourceUri ?? "",
    arguments: m?.arguments,
  };
}

function filterToolsQuestion(r: Decoded<FilterToolsRequest>): FilterToolsQuestion {
  const m = r.ok ? r.message : undefined;
  return {
    ...delegation(r),
    sessionId: m?.sessionId ?? "",
    tools: m?.tools ?? [],
  };
}

/** A reported definition in MCP's own shape (absent fields stay absent, so the digest is the server's). */
function toolDefinition(t: ProtoToolDefinition): ToolDefinition {
  const a = t.annotations;
  const annotations: ToolAnnotations | undefined = a && {
    ...(a.title !== undefined && { title: a.title }),
    ...(a.readOnlyHint !== undefined && { readOnlyHint: a.readOnlyHint }),
    ...(a.destructiveHint !== undefined && { destructiveHint: a.destructiveHint }),
    ...(a.idempotentHint !== undefined && { idempotentHint: a.idempotentHint }),
    ...(a.openWorldHint !== undefined && { openWorldHint: a.openWorldHint }),
  };
  return {
    name: t.name,
    ...(t.title !== "" && { title: t.title }),
    ...(t.description !== "" && { description: t.description }),
    inputSchema: t.inputSchema ?? {},
    ...(t.outputSchema !== undefined && { outputSchema: t.outputSchema }),
    ...(annotations && Object.keys(annotations).length > 0 && { annotations }),
  };
}

function toolReport(r: Decoded<ReportToolsRequest>): ToolReport {
  if (!r.ok) throw new PdpError("INVALID_REQUEST", "request message does not decode");
  return { serverId: r.message.serverId, tools: r.message.tools.map(toolDefinition) };
}

/** AuthorizationService over gRPC: never a gRPC error for a bad request — bad input is a DENY with its record. */
export function authorizationHandlers(core: Pick<DecisionCore, "authorize" | "filterTools" | "reportTools">): ServiceHandlers<Methods> {
  return {
    async authorize(request, ctx) {
      const r = await core.authorize(authorizeQuestion(request), ctx);
      return {
        ...protoOutcome(r.outcome),
        decisionId: r.decisionId,
        policyVersion: r.version,
        evaluatedAt: timestampFromDate(r.at),
        ...(r.value?.sessionExpiresAt !== undefined && { sessionExpiresAt: timestampFromMs(r.value.sessionExpiresAt) }),
      };
    },

    async filterTools(request, ctx) {
      const r = await core.filterTools(filterToolsQuestion(request), ctx);
      return {
        tools: [...(r.value ?? [])],
        decisionId: r.decisionId,
        policyVersion: r.version,
        reasonCode: protoReason(r.outcome.reasonCode),
        message: r.outcome.message,
      };
    },

    async reportTools(request, ctx) {
      const r = await core.reportTools(toolReport(request), ctx.caller);
      ctx.logger.info({ serverId: request.ok ? request.message.serverId : "", accepted: r.accepted, changed: r.changed, removed: r.removed, refused: r.refused.length }, "tool definitions reported");
      return { accepted: r.accepted, changed: [...r.changed], removed: [...r.removed], refused: r.refused.map((x) => ({ name: x.name, reason: x.reason })) };
    },
  };
}
