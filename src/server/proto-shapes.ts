/** Domain ⇄ protobuf for the shapes every service shares: reason codes, reasons, obligations. */
import type { MessageInitShape } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { DelegatedQuestion, Obligation, Outcome } from "../decision/types.js";
import type { ReasonCode } from "../errors.js";
import { Decision, ReasonCode as ProtoReasonCode, type ObligationSchema, type ReasonSchema } from "../gen/mcppdp/v1/common_pb.js";
import type { Decoded } from "../grpc/service-definition.js";
import type { DeterminingPolicy } from "../policy/types.js";

/** The identity fields every delegated request message carries (empty when the message did not decode). */
export function delegation(
  r: Decoded<{ userToken: string; workloadToken: string; clientId: string; serverId: string; purpose: string }>,
): DelegatedQuestion {
  if (!r.ok) return { malformed: r.error.message.startsWith("request message is larger") ? r.error.message : "request message does not decode", userToken: "", workloadToken: "", clientId: "", serverId: "", purpose: "" };
  const m = r.message;
  return { userToken: m.userToken, workloadToken: m.workloadToken, clientId: m.clientId, serverId: m.serverId, purpose: m.purpose };
}

/** Every domain reason code and its wire enum value (a missing one is a compile error). */
const PROTO_REASON: Readonly<Record<ReasonCode, ProtoReasonCode>> = {
  ALLOWED: ProtoReasonCode.ALLOWED,
  POLICY_DENIED: ProtoReasonCode.POLICY_DENIED,
  NO_PERMIT: ProtoReasonCode.NO_PERMIT,
  TOKEN_INVALID: ProtoReasonCode.TOKEN_INVALID,
  TOKEN_EXPIRED: ProtoReasonCode.TOKEN_EXPIRED,
  AUDIENCE_MISMATCH: ProtoReasonCode.AUDIENCE_MISMATCH,
  SESSION_UNKNOWN: ProtoReasonCode.SESSION_UNKNOWN,
  SESSION_EXPIRED: ProtoReasonCode.SESSION_EXPIRED,
  SESSION_REVOKED: ProtoReasonCode.SESSION_REVOKED,
  CONTEXT_CHANGED: ProtoReasonCode.CONTEXT_CHANGED,
  TOOL_NOT_GRANTED: ProtoReasonCode.TOOL_NOT_GRANTED,
  APPROVAL_REQUIRED: ProtoReasonCode.APPROVAL_REQUIRED,
  INSUFFICIENT_SCOPE: ProtoReasonCode.INSUFFICIENT_SCOPE,
  SESSION_REQUIRED: ProtoReasonCode.SESSION_REQUIRED,
  STORE_UNAVAILABLE: ProtoReasonCode.STORE_UNAVAILABLE,
  AUDIT_UNAVAILABLE: ProtoReasonCode.AUDIT_UNAVAILABLE,
  INVALID_REQUEST: ProtoReasonCode.INVALID_REQUEST,
  CLIENT_MISMATCH: ProtoReasonCode.CLIENT_MISMATCH,
  POLICY_ERROR: ProtoReasonCode.POLICY_ERROR,
  CALLER_UNAUTHORIZED: ProtoReasonCode.CALLER_UNAUTHORIZED,
  INTERNAL_ERROR: ProtoReasonCode.INTERNAL_ERROR,
  BUDGET_EXHAUSTED: ProtoReasonCode.BUDGET_EXHAUSTED,
  APPROVAL_UNKNOWN: ProtoReasonCode.APPROVAL_UNKNOWN,
  IDP_UNAVAILABLE: ProtoReasonCode.IDP_UNAVAILABLE,
  OVERLOADED: ProtoReasonCode.OVERLOADED,
  SUBJECT_MISMATCH: ProtoReasonCode.SUBJECT_MISMATCH,
  INVALID_ARGUMENTS: ProtoReasonCode.INVALID_ARGUMENTS,
  TOOL_DEFINITION_CHANGED: ProtoReasonCode.TOOL_DEFINITION_CHANGED,
};

/** The wire enum of a reason code. */
export function protoReason(code: ReasonCode): ProtoReasonCode {
  return PROTO_REASON[code];
}

/** The wire shape of determining policies. */
export function protoReasons(reasons: readonly DeterminingPolicy[]): MessageInitShape<typeof ReasonSchema>[] {
  return reasons.map((r) => ({ policyId: r.policyId, reason: r.reason }));
}

function protoObligation(o: Obligation): MessageInitShape<typeof ObligationSchema> {
  switch (o.kind) {
    case "approval":
      return { kind: { case: "approval", value: { approvalId: o.approvalId, expiresAt: timestampFromMs(o.expiresAt) } } };
    case "step_up":
      return { kind: { case: "stepUp", value: { scopes: [...o.scopes] } } };
    case "reauthorize":
      return { kind: { case: "reauthorize", value: { changed: o.changed } } };
  }
}

/** The decision, reason code, reasons and obligations of an outcome, as every decision response carries them. */
export function protoOutcome(outcome: Outcome): {
  decision: Decision;
  reasonCode: ProtoReasonCode;
  reasons: MessageInitShape<typeof ReasonSchema>[];
  obligations: MessageInitShape<typeof ObligationSchema>[];
  message: string;
} {
  return {
    decision: outcome.allow ? Decision.ALLOW : Decision.DENY,
    reasonCode: PROTO_REASON[outcome.reasonCode],
    reasons: protoReasons(outcome.reasons),
    obligations: (outcome.obligations ?? []).map(protoObligation),
    message: outcome.message,
  };
}
