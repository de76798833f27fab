import { PdpError } from "../errors.js";
import type { TokenVerifier, VerifiedUser } from "../identity/types.js";
import type { ApprovalFilter, ApprovalRecord, ApprovalStore } from "../session/approval-types.js";
import { userRef } from "../session/user-ref.js";
import { requireOperator } from "./check-caller.js";
import { requireField } from "./check-question.js";
import { evaluate } from "./evaluate.js";
import { policyOutcome } from "./outcome.js";
import { approvalSubject, type RecordSubject } from "./record.js";
import type { RunDecision } from "./run-decision.js";
import type { Caller, Decided, RequestContext } from "./types.js";

/** Lists approvals, newest first (operators only). Throws PdpError; not a decision. */
export type ListApprovals = (filter: ApprovalFilter, limit: number, caller: Caller) => Promise<ApprovalRecord[]>;

/** Builds ListApprovals: `limit` is clamped to 1…1000 (0 means 100). */
export function createListApprovals(deps: { readonly approvals: Pick<ApprovalStore, "list"> }): ListApprovals {
  return async (filter, limit, caller) => {
    requireOperator(caller);
    return deps.approvals.list(filter, Math.min(Math.max(limit || 100, 1), 1000));
  };
}

/** An approver's verdict on one approval. */
export interface ApprovalVerdict {
  readonly approvalId: string;
  /** Undefined when the door did not recognise the verdict. */
  readonly verdict: "approved" | "rejected" | undefined;
  /** The approver's own token (audience: the PDP). Never logged, never recorded. */
  readonly approverToken: string;
  readonly comment: string;
}

/** DecideApproval as a decision: the value is the decided approval (undefined when policy refused the approver). */
export type DecideApproval = (verdict: ApprovalVerdict, ctx: RequestContext) => Promise<Decided<ApprovalRecord>>;

/** What {@link createDecideApproval} needs. */
export interface DecideApprovalDeps {
  readonly run: RunDecision;
  readonly verifier: TokenVerifier;
  readonly approvals: Pick<ApprovalStore, "get" | "decide">;
  /** The audience approver tokens must name (the PDP's own). */
  readonly pdpAudience: string;
}

/**
 * Builds DecideApproval. It needs an operator caller (the approval console), the approver's own
 * token, verified afresh, and a Cedar `approve` decision for this approver, this tool, this agent
 * and this user — so group membership and "no self-approval" are policy.
 */
export function createDecideApproval(deps: DecideApprovalDeps): DecideApproval {
  return (v, ctx) => {
    let approval: ApprovalRecord | undefined;
    let approver: VerifiedUser | undefined;
    const subject = (): RecordSubject => ({
      ...(approval ? approvalSubject(approval) : { approvalId: v.approvalId }),
      ...(approver && { user: { issuer: approver.issuer, subject: approver.subject } }),
      ...(!(ctx.caller instanceof PdpError) && { caller: ctx.caller.id }),
      action: "approve",
    });
    return deps.run("decide_approval", ctx, subject, async (policy) => {
      requireOperator(ctx.caller);
      if (v.verdict === undefined) throw new PdpError("INVALID_REQUEST", "verdict must be APPROVE or REJECT");
      requireField(v.approvalId, "approval_id", 64);
      approver = await deps.verifier.verifyUser(requireField(v.approverToken, "approver_token", 16 * 1024), deps.pdpAudience, { fresh: true });
      approval = await deps.approvals.get(v.approvalId);
      if (!approval) throw new PdpError("APPROVAL_UNKNOWN", "no such approval");
      const outcome = policyOutcome(
        evaluate(
          policy,
          {
            action: "approve",
            agent: { id: approval.agentId, trustDomain: new URL(approval.agentId).host },
            user: { issuer: approver.issuer, subject: approver.subject, scopes: approver.scopes },
            requestingUser: { issuer: approval.userIssuer, subject: approval.userSubject },
            clientId: approval.clientId,
            serverId: approval.serverId,
            idp: approver.issuer,
            tool: approval.tool,
            purpose: approval.purpose,
          },
          ctx.logger,
        ),
      );
      if (!outcome.allow) return { outcome };
      const decided = await deps.approvals.decide(approval.id, v.verdict, userRef(approver.issuer, approver.subject), v.comment.slice(0, 1000));
      if (!decided) throw new PdpError("APPROVAL_UNKNOWN", "no such approval");
      return { outcome: { ...outcome, message: `approval ${v.verdict}` }, value: decided };
    });
  };
}
