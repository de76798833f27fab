import type { DecisionInput, PolicyDecision, PolicyEngine, ToolInfo } from "../policy/types.js";
import type { ApprovalCall, ApprovalRecord, ApprovalStore } from "../session/approval-types.js";
import { checkLive } from "./evaluate.js";
import { onlyObligations, policyOutcome } from "./outcome.js";
import type { Outcome } from "./types.js";

/** Tools whose calls are never helped by any cache: production writes, cross-vendor actions, egress. */
export function isHighImpact(tool: ToolInfo | undefined): boolean {
  return tool !== undefined && (tool.impact === "production_write" || tool.impact === "external" || tool.labels.includes("egress"));
}


/**
 * The decision for granting an item (OpenSession, FilterTools): an item denied only by obligations
 * (approval, step-up) is judged as if they were met — each call will still have to meet them.
 */
export function evaluateForGrant(policy: PolicyEngine, input: DecisionInput): PolicyDecision {
  checkLive(policy);
  const d = policy.evaluate(input);
  if (!onlyObligations(d)) return d;
  const tool = input.tool ? policy.tool(input.serverId, input.tool) : undefined;
  const scopes = [...input.user.scopes, ...(tool?.requiredScopes ?? [])];
  return policy.evaluate({ ...input, approved: true, user: { ...input.user, scopes } });
}

/** What obligations need to act. */
export interface ObligationContext {
  /** The policy snapshot of this decision. */
  readonly policy: PolicyEngine;
  readonly input: DecisionInput;
  readonly tool: ToolInfo | undefined;
  /** The exact call, for approvals; undefined outside a session (approvals are bound to one). */
  readonly call: ApprovalCall | undefined;
  readonly approvals: Pick<ApprovalStore, "consume" | "request">;
  /** When a new approval stops being usable. */
  readonly approvalExpiresAt: number;
}

/** The outcome, with the approval it requested or used and the call's previous approval if it expired unused. */
export interface ObligationResult {
  readonly outcome: Outcome;
  readonly approvalId?: string;
  readonly expiredApproval?: ApprovalRecord;
}

/**
 * Acts on a Cedar decision's obligations. A denial made only by `@obligation("step_up")` forbids
 * is INSUFFICIENT_SCOPE naming the missing scopes. One made only by `@obligation("approval")`
 * forbids is evaluated again as approved: if that would be permitted, an approved approval for
 * exactly this call is used up (ALLOW, once), or a pending one is filed (APPROVAL_REQUIRED with
 * its id). Anything else is the decision as it stands.
 */
export async function applyObligations(d: PolicyDecision, ctx: ObligationContext): Promise<ObligationResult> {
  if (!onlyObligations(d)) return { outcome: policyOutcome(d) };
  if (d.reasons.some((r) => r.obligation === "step_up")) {
    const have = new Set(ctx.input.user.scopes);
    const missing = (ctx.tool?.requiredScopes ?? []).filter((s) => !have.has(s));
    const outcome: Outcome = {
      allow: false,
      reasonCode: "INSUFFICIENT_SCOPE",
      reasons: d.reasons,
      message: `the user's token lacks scope ${missing.join(" ") || "(see policy)"}`,
      obligations: [{ kind: "step_up", scopes: missing }],
    };
    return { outcome };
  }
  const approved = ctx.policy.evaluate({ ...ctx.input, approved: true });
  if (approved.decision !== "allow") return { outcome: policyOutcome(approved) };
  if (!ctx.call) {
    const message = "this call needs a human approval, and approvals are bound to a session: open one first";
    return { outcome: { allow: false, reasonCode: "APPROVAL_REQUIRED", reasons: d.reasons, message } };
  }
  const used = await ctx.approvals.consume(ctx.call);
  if (used) return { outcome: { ...policyOutcome(approved), message: `permitted with approval ${used.id} (now used)` }, approvalId: used.id };
  const { approval: pending, previous } = await ctx.approvals.request(ctx.call, { policyVersion: d.version, expiresAt: ctx.approvalExpiresAt });
  const outcome: Outcome = {
    allow: false,
    reasonCode: "APPROVAL_REQUIRED",
    reasons: d.reasons,
    message: `approval ${pending.id} is ${pending.state}; ask an approver, then retry this exact call`,
    obligations: [{ kind: "approval", approvalId: pending.id, expiresAt: pending.expiresAt }],
  };
  return { outcome, approvalId: pending.id, ...(previous?.state === "expired" && { expiredApproval: previous }) };
}
