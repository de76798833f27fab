import { ReasonCode } from "./gen/mcppdp/v1/common_pb.js";

/**
 * The closed set of failure codes inside the PDP. Each maps to one reason code at the edge
 * and doubles as a metric/log label.
 */
export type PdpErrorCode =
  | "TOKEN_INVALID"
  | "TOKEN_EXPIRED"
  | "IDP_UNAVAILABLE"
  | "AUDIENCE_MISMATCH"
  | "CLIENT_MISMATCH"
  | "INSUFFICIENT_SCOPE"
  | "INVALID_REQUEST"
  | "CALLER_UNAUTHORIZED"
  | "SESSION_REQUIRED"
  | "SESSION_UNKNOWN"
  | "SESSION_EXPIRED"
  | "SESSION_REVOKED"
  | "CONTEXT_CHANGED"
  | "TOOL_NOT_GRANTED"
  | "STORE_UNAVAILABLE"
  | "AUDIT_UNAVAILABLE"
  | "POLICY_ERROR"
  | "POLICY_INVALID"
  | "CONFIG_INVALID"
  | "INTERNAL";

const reasonCodes: Record<PdpErrorCode, ReasonCode> = {
  TOKEN_INVALID: ReasonCode.TOKEN_INVALID,
  TOKEN_EXPIRED: ReasonCode.TOKEN_EXPIRED,
  IDP_UNAVAILABLE: ReasonCode.IDP_UNAVAILABLE,
  AUDIENCE_MISMATCH: ReasonCode.AUDIENCE_MISMATCH,
  CLIENT_MISMATCH: ReasonCode.CLIENT_MISMATCH,
  INSUFFICIENT_SCOPE: ReasonCode.INSUFFICIENT_SCOPE,
  INVALID_REQUEST: ReasonCode.INVALID_REQUEST,
  CALLER_UNAUTHORIZED: ReasonCode.CALLER_UNAUTHORIZED,
  SESSION_REQUIRED: ReasonCode.SESSION_REQUIRED,
  SESSION_UNKNOWN: ReasonCode.SESSION_UNKNOWN,
  SESSION_EXPIRED: ReasonCode.SESSION_EXPIRED,
  SESSION_REVOKED: ReasonCode.SESSION_REVOKED,
  CONTEXT_CHANGED: ReasonCode.CONTEXT_CHANGED,
  TOOL_NOT_GRANTED: ReasonCode.TOOL_NOT_GRANTED,
  STORE_UNAVAILABLE: ReasonCode.STORE_UNAVAILABLE,
  AUDIT_UNAVAILABLE: ReasonCode.AUDIT_UNAVAILABLE,
  POLICY_ERROR: ReasonCode.POLICY_ERROR,
  POLICY_INVALID: ReasonCode.POLICY_ERROR,
  CONFIG_INVALID: ReasonCode.INTERNAL_ERROR,
  INTERNAL: ReasonCode.INTERNAL_ERROR,
};

/** Options for {@link PdpError}. */
export interface PdpErrorOptions {
  /** The underlying error, kept for the operational log; never shown to callers. */
  cause?: unknown;
  /** Caller-safe structured facts (e.g. `{ changed: "client" }` for CONTEXT_CHANGED). */
  details?: Readonly<Record<string, string>>;
}

/**
 * The one error type of the PDP: a closed `code`, a message safe to show a caller (it never
 * contains a token), and a `cause` for the operational log.
 */
export class PdpError extends Error {
  override readonly name = "PdpError";
  readonly code: PdpErrorCode;
  readonly details: Readonly<Record<string, string>>;

  constructor(code: PdpErrorCode, message: string, options: PdpErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options.details ?? {};
  }

  /** The reason code a DENY carries for this error. */
  get reasonCode(): ReasonCode {
    return reasonCodes[this.code];
  }

  /** Normalises whatever was caught: a PdpError stays as it is, anything else is INTERNAL. */
  static from(err: unknown, fallback: PdpErrorCode = "INTERNAL"): PdpError {
    if (err instanceof PdpError) return err;
    return new PdpError(fallback, fallback === "INTERNAL" ? "internal error" : String((err as Error)?.message ?? err), {
      cause: err,
    });
  }
}
