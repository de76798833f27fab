import { timestampFromDate, timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { DecisionCore } from "../decision/decision-core.js";
import type { AuthorizeQuestion, FilterToolsQuestion, ItemKind } from "../decision/types.js";
import type { AuthorizationService, AuthorizeRequest, FilterToolsRequest } from "../gen/mcppdp/v1/authorization_pb.js";
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

/** AuthorizationService over gRPC: never a gRPC error for a bad request — bad input is a DENY with its record. */
export function authorizationHandlers(core: Pick<DecisionCore, "authorize" | "filterTools">): ServiceHandlers<Methods> {
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
  };
}
