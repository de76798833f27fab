import { errors } from "jose";
import { PdpError } from "../errors.js";

/**
 * Maps whatever token verification threw to a PdpError whose message is short, fixed and safe to
 * show a caller: it never quotes the token, a claim value or the underlying library's message (the
 * original stays in `cause` for the operational log).
 */
export function toTokenError(err: unknown): PdpError {
  if (err instanceof PdpError) return err;
  if (err instanceof errors.JWTExpired) {
    return new PdpError("TOKEN_EXPIRED", "token expired", { cause: err });
  }
  if (err instanceof errors.JWTClaimValidationFailed) return claimError(err);
  if (err instanceof errors.JWKSTimeout || err instanceof errors.JWKSInvalid) {
    return new PdpError("IDP_UNAVAILABLE", "identity provider keys could not be fetched", { cause: err });
  }
  if (err instanceof errors.JOSEError) {
    return new PdpError("TOKEN_INVALID", joseMessage(err.code), { cause: err });
  }
  return new PdpError("TOKEN_INVALID", "token could not be verified", { cause: err });
}

function claimError(err: InstanceType<typeof errors.JWTClaimValidationFailed>): PdpError {
  if (err.claim === "aud") {
    return new PdpError("AUDIENCE_MISMATCH", "token audience does not match", { cause: err });
  }
  if (err.reason !== "check_failed") {
    return new PdpError("TOKEN_INVALID", "token claims are missing or invalid", { cause: err });
  }
  switch (err.claim) {
    case "nbf":
    case "iat":
      return new PdpError("TOKEN_INVALID", "token not yet valid", { cause: err });
    case "iss":
      return new PdpError("TOKEN_INVALID", "untrusted token issuer", { cause: err });
    default:
      return new PdpError("TOKEN_INVALID", "token claims are missing or invalid", { cause: err });
  }
}

function joseMessage(code: string): string {
  switch (code) {
    case "ERR_JWKS_NO_MATCHING_KEY":
    case "ERR_JWKS_MULTIPLE_MATCHING_KEYS":
      return "token signing key is not known";
    case "ERR_JWS_SIGNATURE_VERIFICATION_FAILED":
      return "token signature is invalid";
    case "ERR_JOSE_ALG_NOT_ALLOWED":
      return "token algorithm is not allowed";
    default:
      return "token is malformed or invalid";
  }
}

/**
 * Re-labels a verification failure of a caller's token as CALLER_UNAUTHORIZED, keeping its safe
 * message — except IDP_UNAVAILABLE, which says nothing about the caller and stays what it is.
 */
export function toCallerError(err: unknown): PdpError {
  const tokenError = toTokenError(err);
  if (tokenError.code === "IDP_UNAVAILABLE") return tokenError;
  return new PdpError("CALLER_UNAUTHORIZED", `caller not authenticated: ${tokenError.message}`, { cause: tokenError });
}
