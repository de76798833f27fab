/**
 * A recorded decision evaluated again under some policy version: the pure part of Authorize after
 * its checks — Cedar, then the obligations as the record says they stood (an approval used or
 * not; whether the call was in a session). No store is read or written: a replay or a shadow
 * evaluation never files or uses an approval.
 */
import { inputOfFacts, unreplayable, type ReplayFacts } from "../policy/replay-facts.js";
import type { DecisionInput, PolicyEngine } from "../policy/types.js";
import { onlyObligations, policyOutcome } from "./outcome.js";
import type { Outcome } from "./types.js";

/** The reason codes a policy evaluation (with its obligations) can end in: only these are replayed. */
export const POLICY_REASON_CODES: ReadonlySet<string> = new Set(["ALLOWED", "POLICY_DENIED", "NO_PERMIT", "POLICY_ERROR", "INSUFFICIENT_SCOPE", "APPROVAL_REQUIRED"]);

/** The outcome under `policy`, or why these facts cannot be evaluated under it. */
export type ReplayResult = { readonly outcome: Outcome } | { readonly unreplayable: string };

/**
 * Evaluates recorded facts under `policy` (never throws: the engine does not). `input`: the
 * facts' input when the caller already made it (`inputOfFacts`).
 */
export function replayOutcome(policy: PolicyEngine, facts: ReplayFacts | undefined, input?: DecisionInput): ReplayResult {
  const why = unreplayable(facts);
  if (why !== undefined) return { unreplayable: why };
  const f = facts as ReplayFacts;
  const i = input ?? inputOfFacts(f);
  if (i.action === "call_tool" && i.tool && i.typedArguments === undefined && i.arguments && policy.definition(i.serverId, i.tool))
    return { unreplayable: `version ${policy.version} declares ${i.tool}'s arguments, and the record has no typed values for them` };
  return { outcome: outcomeUnder(policy, i, f.approvalUsed === true) };
}

/**
 * The outcome of a policy input under `policy`: Cedar, then the obligations as they stood — an
 * approval for exactly this call used (`approvalUsed`, in a session) or not. Reads and writes no
 * store. Never throws: the engine does not.
 */
export function outcomeUnder(policy: PolicyEngine, input: DecisionInput, approvalUsed: boolean): Outcome {
  const d = policy.evaluate(input);
  if (!onlyObligations(d)) return policyOutcome(d);
  if (d.reasons.some((r) => r.obligation === "step_up"))
    return { allow: false, reasonCode: "INSUFFICIENT_SCOPE", reasons: d.reasons, message: "the user's token lacks a required scope" };
  const approved = policy.evaluate({ ...input, approved: true });
  if (approved.decision !== "allow") return policyOutcome(approved);
  if (input.session && approvalUsed) return policyOutcome(approved);
  return { allow: false, reasonCode: "APPROVAL_REQUIRED", reasons: d.reasons, message: "this call needs a human approval" };
}

/**
 * True when `a` and `b` are known to give the same answer on this input (same evaluation key:
 * the same policies can apply, and everything else they read is the same), so one evaluation
 * serves both. False when they differ or it cannot be told.
 */
export function sameEvaluation(a: PolicyEngine, b: PolicyEngine, input: DecisionInput): boolean {
  if (a === b) return true;
  if (!a.evaluationKey || !b.evaluationKey) return false;
  const k = a.evaluationKey(input);
  return k !== undefined && k === b.evaluationKey(input);
}

/** Two outcomes agree when decision, reason code and determining policies (by `@id`) are the same. */
export function sameOutcome(
  a: { readonly allow: boolean; readonly reasonCode: string; readonly policies: readonly string[] },
  b: { readonly allow: boolean; readonly reasonCode: string; readonly policies: readonly string[] },
): boolean {
  if (a.allow !== b.allow || a.reasonCode !== b.reasonCode || a.policies.length !== b.policies.length) return false;
  const x = [...a.policies].sort();
  const y = [...b.policies].sort();
  return x.every((p, i) => p === y[i]);
}
