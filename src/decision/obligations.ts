import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { ReasonCode } from "../gen/mcppdp/v1/common_pb.js";
import type { DecisionInput, PolicyDecision, PolicyEngine, ToolInfo } from "../policy/types.js";
import type { ApprovalCall, ApprovalRecord, ApprovalStore } from "../session/approval-types.js";
import type { SessionRecord } from "../session/types.js";
import { policyOutcome, type Outcome } from "./outcome.js";

/** Tools whose calls are never helped by any cache: production writes, cross-vendor actions, egress. */
export function isHighImpact(tool: ToolInfo | undefined): boolean {
  return tool !== undefined && (tool.impact === "production_write" || tool.impact === "external" || tool.labels.includes("egress"));
}

/** True when every policy that denied carries an `@obligation` (so meeting it could lift the denial). */
function onlyObligations(d: PolicyDecision): boolean {
  return d.outcome === "forbid" && d.reasons.length > 0 && d.reasons.every((r) => r.obligation !== undefined);
}

/**
 * The decision for granting an item when a session opens: an item denied only by obligations
 * (approval, step-up) is judged as if they were met — each call will still have to meet them.
 */
export function evaluateForGrant(engine: PolicyEngine, input: DecisionInput): PolicyDecision {
  const d = engine.evaluate(input);
  if (!onlyObligations(d)) return d;
  const tool = input.tool ? engine.tool(input.serverId, input.tool) : undefined;
  const scopes = [...input.user.scopes, ...(tool?.requiredScopes ?? [])];
  return engine.evaluate({ ...input, approved: true, user: { ...input.user, scopes } });
}

/** What obligations need to act. */
export interface ObligationContext {
  readonly engine: PolicyEngine;
  readonly input: DecisionInput;
  readonly tool: ToolInfo | undefined;
  /** The session, when the call belongs to one (approvals are bound to a session). */
  readonly session: SessionRecord | undefined;
  /** The exact call, for approvals (undefined without a session). */
  readonly call: ApprovalCall | undefined;
  readonly approvals: ApprovalStore;
  /** When a new approval stops being usable. */
  readonly approvalExpiresAt: number;
  /** Told when the call's previous approval turned out to have expired unused (an audit event). */
  readonly onExpired: (expired: ApprovalRecord) => void;
}

/** The outcome, and the approval it requested or used. */
export interface ObligationResult {
  readonly outcome: Outcome;
  readonly decision: PolicyDecision;
  readonly approvalId?: string;
}

/**
 * Acts on a Cedar decision's obligations. A denial made only by `@obligation("step_up")` forbids
 * is INSUFFICIENT_SCOPE naming the missing scopes. One made only by `@obligation("approval")`
 * forbids is evaluated again as approved: if that would be permitted, an approved approval for
 * exactly this call is used up (ALLOW, once), or a pending one is filed (APPROVAL_REQUIRED with
 * its id). Anything else is the decision as it stands.
 */
export async function applyObligations(d: PolicyDecision, ctx: ObligationContext): Promise<ObligationResult> {
  if (!onlyObligations(d)) return { outcome: policyOutcome(d), decision: d };
  if (d.reasons.some((r) => r.obligation === "step_up")) {
    const have = new Set(ctx.input.user.scopes);
    const missing = (ctx.tool?.requiredScopes ?? []).filter((s) => !have.has(s));
    const outcome: Outcome = {
      allow: false,
      reasonCode: ReasonCode.INSUFFICIENT_SCOPE,
      reasons: d.reasons,
      message: `the user's token lacks scope ${missing.join(" ") || "(see policy)"}`,
      obligations: [{ kind: { case: "stepUp", value: { scopes: missing } } }],
    };
    return { outcome, decision: d };
  }
  const approved = ctx.engine.evaluate({ ...ctx.input, approved: true });
  if (approved.decision !== "allow") return { outcome: policyOutcome(approved), decision: approved };
  if (!ctx.session || !ctx.call) {
    const message = "this call needs a human approval, and approvals are bound to a session: open one first";
    return { outcome: { allow: false, reasonCode: ReasonCode.APPROVAL_REQUIRED, reasons: d.reasons, message }, decision: d };
  }
  const used = await ctx.approvals.consume(ctx.call);
  if (used) {
    const outcome = { ...policyOutcome(approved), message: `permitted with approval ${used.id} (now used)` };
    return { outcome, decision: approved, approvalId: used.id };
  }
  const { approval: pending, previous } = await ctx.approvals.request(ctx.call, { policyVersion: d.version, expiresAt: ctx.approvalExpiresAt });
  if (previous?.state === "expired") ctx.onExpired(previous);
  const outcome: Outcome = {
    allow: false,
    reasonCode: ReasonCode.APPROVAL_REQUIRED,
    reasons: d.reasons,
    message: `approval ${pending.id} is ${pending.state}; ask an approver, then retry this exact call`,
    obligations: [{ kind: { case: "approval", value: { approvalId: pending.id, expiresAt: timestampFromMs(pending.expiresAt) } } }],
  };
  return { outcome, decision: d, approvalId: pending.id };
}
