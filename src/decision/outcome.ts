import type { MessageInitShape } from "@bufbuild/protobuf";
import { PdpError } from "../errors.js";
import { ReasonCode, type ObligationSchema } from "../gen/mcppdp/v1/common_pb.js";
import type { DeterminingPolicy, PolicyDecision } from "../policy/types.js";

/** An obligation as the response carries it. */
export type ObligationInit = MessageInitShape<typeof ObligationSchema>;

/** What a decision came to, before it is shaped into a response. */
export interface Outcome {
  readonly allow: boolean;
  readonly reasonCode: ReasonCode;
  readonly reasons: readonly DeterminingPolicy[];
  /** Short, caller-safe explanation. */
  readonly message: string;
  readonly obligations?: readonly ObligationInit[];
}

const POLICY_CODES: Record<PolicyDecision["outcome"], ReasonCode> = {
  permit: ReasonCode.ALLOWED,
  forbid: ReasonCode.POLICY_DENIED,
  no_permit: ReasonCode.NO_PERMIT,
  error: ReasonCode.POLICY_ERROR,
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
    reasonCode: allow ? ReasonCode.ALLOWED : POLICY_CODES[decision.outcome === "permit" ? "error" : decision.outcome],
    reasons: decision.reasons,
    message: POLICY_MESSAGES[decision.outcome],
  };
}

/** The outcome of a failure: always a DENY with the error's reason code (and a re-authorize obligation for a context change). */
export function errorOutcome(err: PdpError): Outcome {
  const obligations: ObligationInit[] =
    err.code === "CONTEXT_CHANGED" ? [{ kind: { case: "reauthorize", value: { changed: err.details.changed ?? "" } } }] : [];
  return { allow: false, reasonCode: err.reasonCode, reasons: [], message: err.message, obligations };
}

/** The enum name of a reason code (`NO_PERMIT`), as records and logs carry it. */
export function reasonName(code: ReasonCode): string {
  return ReasonCode[code] ?? "UNSPECIFIED";
}
