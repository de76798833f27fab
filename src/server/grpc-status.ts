import { status, type ServiceError } from "@grpc/grpc-js";
import { Metadata } from "@grpc/grpc-js";
import { PdpError, type PdpErrorCode } from "../errors.js";

const STATUS: Partial<Record<PdpErrorCode, status>> = {
  INVALID_REQUEST: status.INVALID_ARGUMENT,
  CALLER_UNAUTHORIZED: status.PERMISSION_DENIED,
  TOKEN_INVALID: status.UNAUTHENTICATED,
  TOKEN_EXPIRED: status.UNAUTHENTICATED,
  AUDIENCE_MISMATCH: status.UNAUTHENTICATED,
  SESSION_UNKNOWN: status.NOT_FOUND,
  APPROVAL_UNKNOWN: status.NOT_FOUND,
  NOT_FOUND: status.NOT_FOUND,
  BUDGET_EXHAUSTED: status.FAILED_PRECONDITION,
  SESSION_EXPIRED: status.FAILED_PRECONDITION,
  SESSION_REVOKED: status.FAILED_PRECONDITION,
  CONTEXT_CHANGED: status.FAILED_PRECONDITION,
  STORE_UNAVAILABLE: status.UNAVAILABLE,
  IDP_UNAVAILABLE: status.UNAVAILABLE,
  OVERLOADED: status.RESOURCE_EXHAUSTED,
  INVALID_ARGUMENTS: status.INVALID_ARGUMENT,
  TOOL_DEFINITION_CHANGED: status.FAILED_PRECONDITION,
  AUDIT_UNAVAILABLE: status.UNAVAILABLE,
};

/**
 * The gRPC error for an RPC that answers with a status rather than a DENY (admin, audit,
 * approval RPCs). Carries the PdpError code in `pdp-code` metadata; never internals.
 * An error is a status only here, at the edge.
 */
export function toServiceError(err: unknown): Partial<ServiceError> {
  const e = PdpError.from(err);
  const metadata = new Metadata();
  metadata.set("pdp-code", e.code);
  return { code: STATUS[e.code] ?? status.INTERNAL, details: e.code === "INTERNAL" ? "internal error" : e.message, metadata };
}
