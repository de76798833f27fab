import type { PdpError, ReasonCode } from "../errors.js";
import type { PolicyDecision } from "../policy/types.js";
import type { Outcome } from "./types.js";

const POLICY_CODES: Record<PolicyDecision["outcome"], ReasonCode> = {
  permit: "ALLOWED",
  forbid: "POLICY_DENIED",
  no_permit: "NO_PERMIT",
  error: "POLICY_ERROR",
};

const POLICY_MESSAGES: Record<PolicyDecision["outcome"], string> = {
  permit: "permitted by policy",
  forbid: "denied by policy",
  no_permit: "no policy permits this request",
  error: "policy evaluation failed; denied (fail closed)",
};

/** The outcome of a Cedar decision. */
export function policyOutcome(decision: PolicyDecision): Outcome {
  const allow = decision.decision === "allow" && decision.outcome === "permit";
  return {
    allow,
    reasonCode: allow ? "ALLOWED" : POLICY_CODES[decision.outcome === "permit" ? "error" : decision.outcome],
    reasons: decision.reasons,
    message: POLICY_MESSAGES[decision.outcome],
  };
}

/** True when every policy that denied carries an `@obligation` (so meeting it could lift the denial). */
export function onlyObligations(d: PolicyDecision): boolean {
  return d.outcome === "forbid" && d.reasons.length > 0 && d.reasons.every((r) => r.obligation !== undefined);
}

/** The outcome of a failure: always a DENY with the error's reason code (and a re-authorize obligation for a context change). */
export function errorOutcome(err: PdpError): Outcome {
  const changed = err.code === "CONTEXT_CHANGED" ? err.details.changed : undefined;
  return {
    allow: false,
    reasonCode: err.reasonCode,
    reasons: [],
    message: err.message,
    ...(changed && { obligations: [{ kind: "reauthorize", changed }] }),
  };
}

/** An ALLOW that no policy decided (ending a session, a revocation, a list). */
export function done(message: string): Outcome {
  return { allow: true, reasonCode: "ALLOWED", reasons: [], message };
}
