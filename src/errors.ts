/**
 * Why a decision came out the way it did: the closed set every door answers with (the gRPC enum
 * `mcppdp.v1.ReasonCode`, AuthZEN's `context.reason_code`, the gateway's denials), every record
 * carries and every metric is labelled with. Doors translate it; nothing inside the PDP uses a
 * wire enum.
 */
export const REASON_CODES = [
  "ALLOWED",
  "POLICY_DENIED",
  "NO_PERMIT",
  "TOKEN_INVALID",
  "TOKEN_EXPIRED",
  "AUDIENCE_MISMATCH",
  "SESSION_UNKNOWN",
  "SESSION_EXPIRED",
  "SESSION_REVOKED",
  "CONTEXT_CHANGED",
  "TOOL_NOT_GRANTED",
  "APPROVAL_REQUIRED",
  "INSUFFICIENT_SCOPE",
  "SESSION_REQUIRED",
  "STORE_UNAVAILABLE",
  "AUDIT_UNAVAILABLE",
  "INVALID_REQUEST",
  "CLIENT_MISMATCH",
  "POLICY_ERROR",
  "CALLER_UNAUTHORIZED",
  "INTERNAL_ERROR",
  "BUDGET_EXHAUSTED",
  "APPROVAL_UNKNOWN",
  "IDP_UNAVAILABLE",
  "OVERLOADED",
  "SUBJECT_MISMATCH",
  "INVALID_ARGUMENTS",
  "TOOL_DEFINITION_CHANGED",
] as const;

/** A reason code (see {@link REASON_CODES}). */
export type ReasonCode = (typeof REASON_CODES)[number];

/**
 * The closed set of failure codes inside the PDP. Each maps to one reason code (a DENY carries it)
 * and doubles as a metric/log label. Codes that are not decision outcomes (configuration, a
 * missing audit record) map to the nearest reason for the rare record that needs one.
 */
export type PdpErrorCode =
  | "TOKEN_INVALID"
  | "TOKEN_EXPIRED"
  | "AUDIENCE_MISMATCH"
  | "CLIENT_MISMATCH"
  | "SUBJECT_MISMATCH"
  | "INSUFFICIENT_SCOPE"
  | "INVALID_REQUEST"
  | "CALLER_UNAUTHORIZED"
  | "SESSION_REQUIRED"
  | "SESSION_UNKNOWN"
  | "SESSION_EXPIRED"
  | "SESSION_REVOKED"
  | "CONTEXT_CHANGED"
  | "TOOL_NOT_GRANTED"
  | "BUDGET_EXHAUSTED"
  | "APPROVAL_UNKNOWN"
  | "NOT_FOUND"
  | "IDP_UNAVAILABLE"
  | "OVERLOADED"
  | "INVALID_ARGUMENTS"
  | "TOOL_DEFINITION_CHANGED"
  | "STORE_UNAVAILABLE"
  | "AUDIT_UNAVAILABLE"
  | "POLICY_ERROR"
  | "POLICY_INVALID"
  | "CONFIG_INVALID"
  | "INTERNAL";

const REASONS: Record<PdpErrorCode, ReasonCode> = {
  TOKEN_INVALID: "TOKEN_INVALID",
  TOKEN_EXPIRED: "TOKEN_EXPIRED",
  AUDIENCE_MISMATCH: "AUDIENCE_MISMATCH",
  CLIENT_MISMATCH: "CLIENT_MISMATCH",
  SUBJECT_MISMATCH: "SUBJECT_MISMATCH",
  INSUFFICIENT_SCOPE: "INSUFFICIENT_SCOPE",
  INVALID_REQUEST: "INVALID_REQUEST",
  CALLER_UNAUTHORIZED: "CALLER_UNAUTHORIZED",
  SESSION_REQUIRED: "SESSION_REQUIRED",
  SESSION_UNKNOWN: "SESSION_UNKNOWN",
  SESSION_EXPIRED: "SESSION_EXPIRED",
  SESSION_REVOKED: "SESSION_REVOKED",
  CONTEXT_CHANGED: "CONTEXT_CHANGED",
  TOOL_NOT_GRANTED: "TOOL_NOT_GRANTED",
  BUDGET_EXHAUSTED: "BUDGET_EXHAUSTED",
  APPROVAL_UNKNOWN: "APPROVAL_UNKNOWN",
  NOT_FOUND: "INVALID_REQUEST",
  IDP_UNAVAILABLE: "IDP_UNAVAILABLE",
  OVERLOADED: "OVERLOADED",
  INVALID_ARGUMENTS: "INVALID_ARGUMENTS",
  TOOL_DEFINITION_CHANGED: "TOOL_DEFINITION_CHANGED",
  STORE_UNAVAILABLE: "STORE_UNAVAILABLE",
  AUDIT_UNAVAILABLE: "AUDIT_UNAVAILABLE",
  POLICY_ERROR: "POLICY_ERROR",
  POLICY_INVALID: "POLICY_ERROR",
  CONFIG_INVALID: "INTERNAL_ERROR",
  INTERNAL: "INTERNAL_ERROR",
};

/** The layer of a delegated session that differs from its binding (CONTEXT_CHANGED). */
export type ChangedLayer = "idp" | "user" | "agent" | "client" | "server" | "purpose";

/** Caller-safe structured facts of an error. */
export interface PdpErrorDetails {
  /** CONTEXT_CHANGED: which bound layer differs. */
  readonly changed?: ChangedLayer;
  /** CONFIG_INVALID: the setting at fault (`identity.userIssuers[0].issuer`, `MCP_PDP_PORT`, …). */
  readonly setting?: string;
}

/** Options for {@link PdpError}. */
export interface PdpErrorOptions {
  /** The underlying error, kept for the operational log; never shown to callers. */
  readonly cause?: unknown;
  readonly details?: PdpErrorDetails;
}

/**
 * The one error type of the PDP: a closed `code`, a message safe to show a caller (it never
 * contains a token), and a `cause` for the operational log.
 */
export class PdpError extends Error {
  override readonly name = "PdpError";
  readonly code: PdpErrorCode;
  readonly details: PdpErrorDetails;

  constructor(code: PdpErrorCode, message: string, options: PdpErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details ?? {};
  }

  /** The reason code a DENY carries for this error. */
  get reasonCode(): ReasonCode {
    return REASONS[this.code];
  }

  /** Normalises whatever was caught: a PdpError stays as it is, anything else is INTERNAL. */
  static from(err: unknown, fallback: PdpErrorCode = "INTERNAL"): PdpError {
    if (err instanceof PdpError) return err;
    return new PdpError(fallback, fallback === "INTERNAL" ? "internal error" : String((err as Error)?.message ?? err), {
      cause: err,
    });
  }
}
