import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { PdpError } from "../errors.js";
import {
  ApprovalState as ProtoState,
  DecideApprovalResponseSchema,
  ListApprovalsResponseSchema,
  Verdict,
  type Approval,
  type DecideApprovalRequest,
  type DecideApprovalResponse,
  type ListApprovalsRequest,
  type ListApprovalsResponse,
} from "../gen/mcppdp/v1/approval_pb.js";
import { ReasonCode } from "../gen/mcppdp/v1/common_pb.js";
import type { Decoded } from "../grpc/service-definition.js";
import type { TokenVerifier } from "../identity/types.js";
import type { PolicyEngine } from "../policy/types.js";
import type { ApprovalRecord, ApprovalState } from "../session/approval-types.js";
import type { StateStores } from "../session/state-stores.js";
import { userRef } from "../session/user-ref.js";
import { requireField } from "./authorize-request.js";
import type { Authenticate } from "./authorizer.js";
import { policyOutcome } from "./outcome.js";
import type { Decide } from "./recorder.js";
import { requireOperator } from "./verify-identities.js";

/** What the approval operations need. */
export interface ApprovalServiceDeps {
  readonly verifier: TokenVerifier;
  readonly engine: () => PolicyEngine;
  readonly stores: StateStores;
  readonly decide: Decide;
  /** The audience approver tokens must name (the PDP's own). */
  readonly pdpAudience: string;
}

/** ApprovalService: list pending approvals; approve or reject one. */
export interface ApprovalService {
  listApprovals(request: Decoded<ListApprovalsRequest>, authenticate: Authenticate): Promise<ListApprovalsResponse>;
  decideApproval(request: Decoded<DecideApprovalRequest>, authenticate: Authenticate): Promise<DecideApprovalResponse>;
}

const STATES: Record<ApprovalState, ProtoState> = {
  pending: ProtoState.PENDING,
  approved: ProtoState.APPROVED,
  rejected: ProtoState.REJECTED,
  used: ProtoState.USED,
  expired: ProtoState.EXPIRED,
};

function toProto(a: ApprovalRecord): Omit<Approval, "$typeName"> & { $typeName?: "mcppdp.v1.Approval" } {
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

/**
 * Builds the approval operations. Both need an operator caller (the approval console). Deciding
 * also needs the approver's own token, verified, and a Cedar `approve` decision for this approver,
 * this tool, this agent and this user — so group membership and "no self-approval" are policy.
 */
export function createApprovalService(deps: ApprovalServiceDeps): ApprovalService {
  const { stores } = deps;
  return {
    async listApprovals(request, authenticate) {
      if (!request.ok) throw new PdpError("INVALID_REQUEST", "request message does not decode");
      requireOperator(await authenticate());
      const m = request.message;
      const state = (Object.keys(STATES) as ApprovalState[]).find((k) => STATES[k] === m.state);
      const limit = Math.min(Math.max(m.pageSize || 100, 1), 1000);
      const list = await stores.approvals.list(
        { ...(state && { state }), ...(m.tool && { tool: m.tool }), ...(m.userSubject && { userSubject: m.userSubject }), ...(m.sessionId && { sessionId: m.sessionId }) },
        limit,
      );
      return create(ListApprovalsResponseSchema, { approvals: list.map(toProto) });
    },

    async decideApproval(request, authenticate) {
      const r = await deps.decide<ApprovalRecord>("decide_approval", async (draft) => {
        if (!request.ok) throw new PdpError("INVALID_REQUEST", "request message does not decode");
        const m = request.message;
        const caller = await authenticate();
        draft.caller = caller.id;
        requireOperator(caller);
        if (m.verdict !== Verdict.APPROVE && m.verdict !== Verdict.REJECT) throw new PdpError("INVALID_REQUEST", "verdict must be APPROVE or REJECT");
        draft.approvalId = requireField(m.approvalId, "approval_id", 64);
        const approver = await deps.verifier.verifyUser(requireField(m.approverToken, "approver_token", 16 * 1024), deps.pdpAudience, { fresh: true });
        const a = await stores.approvals.get(m.approvalId);
        if (!a) throw new PdpError("SESSION_UNKNOWN", "no such approval");
        Object.assign(draft, { sessionId: a.sessionId, agentId: a.agentId, clientId: a.clientId, serverId: a.serverId, tool: a.tool, purpose: a.purpose });
        Object.assign(draft, { userIssuer: approver.issuer, userSubject: approver.subject, idp: approver.issuer, action: "approve" });
        const engine = deps.engine();
        const decision = engine.evaluate({
          action: "approve",
          agent: { id: a.agentId, trustDomain: new URL(a.agentId).host },
          user: { issuer: approver.issuer, subject: approver.subject, scopes: approver.scopes },
          requestingUser: { issuer: a.userIssuer, subject: a.userSubject },
          clientId: a.clientId,
          serverId: a.serverId,
          idp: approver.issuer,
          tool: a.tool,
          purpose: a.purpose,
        });
        const outcome = policyOutcome(decision);
        if (!outcome.allow) return { outcome, version: decision.version };
        const verdict = m.verdict === Verdict.APPROVE ? "approved" : "rejected";
        const decided = await stores.approvals.decide(a.id, verdict, userRef(approver.issuer, approver.subject), m.comment.slice(0, 1000));
        if (!decided) throw new PdpError("SESSION_UNKNOWN", "no such approval");
        return { outcome: { ...outcome, message: `approval ${verdict}` }, version: decision.version, extra: decided };
      });
      if (r.error) throw r.error;
      if (!r.extra) throw new PdpError("CALLER_UNAUTHORIZED", `this approver may not decide this approval (${ReasonCode[r.outcome.reasonCode]}${r.outcome.reasons.length ? `: ${r.outcome.reasons.map((x) => x.policyId).join(", ")}` : ""})`);
      return create(DecideApprovalResponseSchema, { approval: toProto(r.extra) });
    },
  };
}
