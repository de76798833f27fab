import { timestampMs } from "@bufbuild/protobuf/wkt";
import type { AuthorizeResponse } from "../gen/mcppdp/v1/authorization_pb.js";
import { Decision, ReasonCode, type Obligation, type Reason } from "../gen/mcppdp/v1/common_pb.js";

/**
 * A reason code as the enforcement point reports it: the PDP's closed `ReasonCode` names, plus
 * `PDP_UNAVAILABLE`, the PEP's own outcome when the PDP could not answer (unreachable, too slow,
 * or an RPC error) — the call is then refused, never run.
 */
export type PepReasonCode = Exclude<keyof typeof ReasonCode, number> | "PDP_UNAVAILABLE";

/** One determining policy: its `@id` and its `@reason`. */
export interface PepReason {
  readonly policyId: string;
  readonly reason: string;
}

/** The answer the enforcement point acts on, in plain JSON-friendly form. */
export interface PepDecision {
  /** True only for a PDP ALLOW. Everything else — including any failure — is a refusal. */
  readonly allowed: boolean;
  readonly decision: "ALLOW" | "DENY";
  readonly reasonCode: PepReasonCode;
  readonly reasons: readonly PepReason[];
  /** The PDP's short message (never a token). */
  readonly message: string;
  /** The PDP's decision id ("" when the PDP did not answer). */
  readonly decisionId: string;
  /** The policy version the decision was made under ("" when the PDP did not answer). */
  readonly policyVersion: string;
  /** Obligation `approval`: a human approval is pending for exactly this call. */
  readonly approval?: { readonly approvalId: string; readonly expiresAt?: string };
  /** Obligation `step_up`: the user token lacks these scopes. */
  readonly stepUp?: { readonly scopes: readonly string[] };
  /** Obligation `reauthorize`: a bound layer changed; open a new session. */
  readonly reauthorize?: { readonly changed: string };
  /** The task session the decision was made in, when there was one. */
  readonly taskSession?: string;
}

function reasonName(code: ReasonCode): PepReasonCode {
  const name = ReasonCode[code] as PepReasonCode | undefined;
  // An unknown number (a newer PDP) is still a refusal; name it honestly.
  return name ?? "INTERNAL_ERROR";
}

function reasonsOf(reasons: readonly Reason[]): PepReason[] {
  return reasons.map((r) => ({ policyId: r.policyId, reason: r.reason }));
}

function obligationsOf(obligations: readonly Obligation[]): Pick<PepDecision, "approval" | "stepUp" | "reauthorize"> {
  const out: { approval?: PepDecision["approval"]; stepUp?: PepDecision["stepUp"]; reauthorize?: PepDecision["reauthorize"] } = {};
  for (const o of obligations) {
    switch (o.kind.case) {
      case "approval":
        out.approval = {
          approvalId: o.kind.value.approvalId,
          ...(o.kind.value.expiresAt && { expiresAt: new Date(timestampMs(o.kind.value.expiresAt)).toISOString() }),
        };
        break;
      case "stepUp":
        out.stepUp = { scopes: [...o.kind.value.scopes] };
        break;
      case "reauthorize":
        out.reauthorize = { changed: o.kind.value.changed };
        break;
    }
  }
  return out;
}

/** Translates an `AuthorizeResponse`; anything but an explicit ALLOW with reason ALLOWED is a refusal. */
export function decisionFromResponse(res: AuthorizeResponse, taskSession?: string): PepDecision {
  const allowed = res.decision === Decision.ALLOW;
  return {
    allowed,
    decision: allowed ? "ALLOW" : "DENY",
    reasonCode: allowed ? "ALLOWED" : res.reasonCode === ReasonCode.ALLOWED ? "INTERNAL_ERROR" : reasonName(res.reasonCode),
    reasons: reasonsOf(res.reasons),
    message: res.message,
    decisionId: res.decisionId,
    policyVersion: res.policyVersion,
    ...obligationsOf(res.obligations),
    ...(taskSession && { taskSession }),
  };
}

/** A refusal made by the PEP itself (the PDP gave no usable answer, or refused the session). */
export function refusal(
  reasonCode: PepReasonCode,
  message: string,
  more: Partial<Pick<PepDecision, "reasons" | "decisionId" | "policyVersion" | "taskSession">> = {},
): PepDecision {
  return { allowed: false, decision: "DENY", reasonCode, reasons: [], message, decisionId: "", policyVersion: "", ...more };
}

/** The reason-code name for a PDP answer that carries one (OpenSession, FilterTools). */
export function reasonCodeName(code: ReasonCode): PepReasonCode {
  return reasonName(code);
}

/** Reasons in PEP form. */
export function pepReasons(reasons: readonly Reason[]): PepReason[] {
  return reasonsOf(reasons);
}
