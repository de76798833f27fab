import { status, type ServiceError } from "@grpc/grpc-js";
import { Metadata } from "@grpc/grpc-js";
import { PdpError, type PdpErrorCode } from "../errors.js";

const STATUS: Partial<Record<PdpErrorCode, status>> = {
  INVALID_REQUEST: status.INVALID_ARGUMENT,
  CALLER_UNAUTHORIZED: status.PERMISSION_DENIED,
  TOKEN_INVALID: status.UNAUTHENTICATED,
  TOKEN_EXPIRED: status.UNAUTHENTICATED,
  AUDIENCE_MISMATCH: status.UNAUTHENTICATED,
  IDP_UNAVAILABLE: status.UNAVAILABLE,
  SESSION_UNKNOWN: status.NOT_FOUND,
  SESSION_EXPIRED: status.FAILED_PRECONDITION,
  SESSION_REVOKED: status.FAILED_PRECONDITION,
  CONTEXT_CHANGED: status.FAILED_PRECONDITION,
  STORE_UNAVAILABLE: status.UNAVAILABLE,
  AUDIT_UNAVAILABLE: status.UNAVAILABLE,
};

/**
 * The gRPC error for an RPC that answers with a status rather than a DENY (admin, audit,
 * approval RPCs). Carries the PdpError code in `pdp-code` metadata; never internals.
 */
export function toServiceError(err: unknown): Partial<ServiceError> {
  const e = PdpError.from(err);
  const metadata = new Metadata();
  metadata.set("pdp-code", e.code);
  return { code: STATUS[e.code] ?? status.INTERNAL, details: e.code === "INTERNAL" ? "internal error" : e.message, metadata };
}
