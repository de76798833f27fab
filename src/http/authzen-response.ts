/**
 * The core's decisions → AuthZEN 1.0 Decision objects (step 3 of 3 of the AuthZEN door).
 *
 * `decision` is the boolean; `context` carries what this PDP says of every decision: the
 * `evaluation_id` (the decision id, in the record too) and `evaluated_at` (as the access-request
 * draft names them), the `policy_version`, the closed `reason_code`, a `message`, the determining
 * policies as `reasons`, and — shaped after the AuthZEN obligations draft — `obligations`, each
 * `{ id, type: "custom", properties: { vendor: "mcp-pdp", action, … } }` (the draft's `step-up`
 * type needs an `acr_value`; this PDP's step-up asks for OAuth scopes, so it is a custom one).
 */
import type { AuthorizeValue } from "../decision/authorize.js";
import type { OpenedSession } from "../decision/open-session.js";
import type { Decided, Obligation, Outcome } from "../decision/types.js";

/** An AuthZEN Decision. */
export interface AuthzenDecision {
  readonly decision: boolean;
  readonly context: Record<string, unknown>;
}

/** The obligation types this PDP may issue (PDP metadata `supported_obligations`). */
export const SUPPORTED_OBLIGATIONS: readonly string[] = ["custom"];

const VENDOR = "mcp-pdp";

function obligation(o: Obligation, i: number): Record<string, unknown> {
  const id = `obl-${i + 1}`;
  switch (o.kind) {
    case "approval":
      return { id, type: "custom", properties: { vendor: VENDOR, action: "approval", approval_id: o.approvalId, expires_at: new Date(o.expiresAt).toISOString() } };
    case "step_up":
      return { id, type: "custom", properties: { vendor: VENDOR, action: "step_up", scopes: [...o.scopes] } };
    case "reauthorize":
      return { id, type: "custom", properties: { vendor: VENDOR, action: "reauthorize", changed: o.changed } };
  }
}

function outcomeContext(outcome: Outcome): Record<string, unknown> {
  return {
    reason_code: outcome.reasonCode,
    message: outcome.message,
    reasons: outcome.reasons.map((r) => ({ policy_id: r.policyId, reason: r.reason })),
    ...(outcome.obligations?.length && { obligations: outcome.obligations.map(obligation) }),
  };
}

/** The Decision of any core decision, with kind-specific members added to its context. */
function decision(d: Decided<unknown>, extra: Record<string, unknown> = {}): AuthzenDecision {
  return {
    decision: d.outcome.allow,
    context: {
      evaluation_id: d.decisionId,
      evaluated_at: d.at.toISOString(),
      policy_version: d.version,
      ...outcomeContext(d.outcome),
      ...extra,
    },
  };
}

/** An Authorize decision (`tools/call`, `resources/read`, `prompts/get`). */
export function authorizeDecision(d: Decided<AuthorizeValue>): AuthzenDecision {
  const expires = d.value?.sessionExpiresAt;
  return decision(d, expires !== undefined ? { session_expires_at: new Date(expires).toISOString() } : {});
}

/** An OpenSession decision: the handle and what was granted (and refused). */
export function openSessionDecision(d: Decided<OpenedSession>): AuthzenDecision {
  const s = d.value?.session;
  const refused = (d.value?.refused ?? []).map((r) => ({
    item: r.item,
    reason_code: r.reasonCode,
    reasons: r.reasons.map((x) => ({ policy_id: x.policyId, reason: x.reason })),
  }));
  return decision(d, {
    ...(s && {
      session_id: s.id,
      granted_tools: [...s.grantedTools],
      granted_resources: [...s.grantedResources],
      granted_prompts: [...s.grantedPrompts],
      expires_at: new Date(s.expiresAt).toISOString(),
    }),
    ...(refused.length > 0 && { refused }),
  });
}

/** An EndSession decision: whether the session was still running. */
export function endSessionDecision(d: Decided<boolean>): AuthzenDecision {
  return decision(d, d.value === undefined ? {} : { ended: d.value });
}
