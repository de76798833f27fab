import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type { DecisionCore } from "../decision/decision-core.js";
import { PdpError } from "../errors.js";
import { ApprovalState as ProtoState, Verdict, type ApprovalSchema, type ApprovalService } from "../gen/mcppdp/v1/approval_pb.js";
import type { ApprovalRecord, ApprovalState } from "../session/approval-types.js";
import { decodedOrThrow, type ServiceHandlers } from "./unary.js";

type Methods = typeof ApprovalService extends { method: infer M } ? M : never;

const STATES: Record<ApprovalState, ProtoState> = {
  pending: ProtoState.PENDING,
  approved: ProtoState.APPROVED,
  rejected: ProtoState.REJECTED,
  used: ProtoState.USED,
  expired: ProtoState.EXPIRED,
};

function toProto(a: ApprovalRecord): MessageInitShape<typeof ApprovalSchema> {
  return {
    approvalId: a.id,
    state: STATES[a.state],
    sessionId: a.sessionId,
    agentId: a.agentId,
    userSubject: a.userSubject,
    clientId: a.clientId,
    serverId: a.serverId,
    tool: a.tool,
    resourceUri: a.resourceUri,
    argumentsDigest: a.argumentsDigest,
    policyVersion: a.policyVersion,
    requestedAt: timestampFromMs(a.requestedAt),
    expiresAt: timestampFromMs(a.expiresAt),
    decidedBy: a.decidedBy ?? "",
    comment: a.comment ?? "",
  };
}

/** ApprovalService over gRPC (the approval console, an operator): failures are statuses. */
export function approvalHandlers(core: Pick<DecisionCore, "listApprovals" | "decideApproval">): ServiceHandlers<Methods> {
  return {
    async listApprovals(request, ctx) {
      const m = decodedOrThrow(request);
      const state = (Object.keys(STATES) as ApprovalState[]).find((k) => STATES[k] === m.state);
      const filter = {
        ...(state && { state }),
        ...(m.tool && { tool: m.tool }),
        ...(m.userSubject && { userSubject: m.userSubject }),
        ...(m.sessionId && { sessionId: m.sessionId }),
      };
      return { approvals: (await core.listApprovals(filter, m.pageSize, ctx.caller)).map(toProto) };
    },

    async decideApproval(request, ctx) {
      const m = request.ok ? request.message : undefined;
      const verdict = m?.verdict === Verdict.APPROVE ? "approved" : m?.verdict === Verdict.REJECT ? "rejected" : undefined;
      const r = await core.decideApproval({ approvalId: m?.approvalId ?? "", verdict, approverToken: m?.approverToken ?? "", comment: m?.comment ?? "" }, ctx);
      if (r.error) throw r.error;
      if (!r.value) {
        const policies = r.outcome.reasons.map((x) => x.policyId).join(", ");
        throw new PdpError("CALLER_UNAUTHORIZED", `this approver may not decide this approval (${r.outcome.reasonCode}${policies ? `: ${policies}` : ""})`);
      }
      return { approval: toProto(r.value) };
    },
  };
}
