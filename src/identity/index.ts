/** Token verification: issuers, JWKS, audience, lifetime, workload identity. Re-exports only. */
export type { IdpStatus, TokenVerifier, VerifiedCaller, VerifiedUser, VerifiedWorkload } from "./types.js";
export { createTokenVerifier, MAX_CLOCK_SKEW_SECONDS } from "./token-verifier.js";
export type { TokenVerifierOptions } from "./token-verifier.js";
export { TokenCache, tokenCacheKey } from "./token-cache.js";
export type { TokenKind } from "./token-cache.js";
export { parseSpiffeId, isTrustDomain } from "./spiffe.js";
export type { SpiffeId } from "./spiffe.js";
export { allowedAlgorithms, createIssuerKeys, parseJwksUri } from "./issuer-keys.js";
export { DEFAULT_ALGORITHMS } from "./config.js";
export type { IssuerKeys } from "./issuer-keys.js";
export { JWKS_BREAKER_DEFAULTS, JwksEndpoints } from "./jwks-endpoints.js";
export type { JwksSettings } from "./jwks-endpoints.js";
export { JwksBreaker } from "./jwks-breaker.js";
export type { IdpState, JwksBreakerOptions, JwksBreakerSnapshot } from "./jwks-breaker.js";
export { isCanonicalCompactJws } from "./compact-jws.js";
export { toCallerError, toTokenError } from "./token-errors.js";
export {
  DEV_ISSUER,
  DEV_JWKS,
  DEV_KEY_ID,
  DEV_MCP_SERVER_URI,
  DEV_PDP_AUDIENCE,
  DEV_PUBLIC_JWK,
  DEV_TRUST_DOMAIN,
  devIdentityConfig,
  mintDevToken,
} from "./dev-issuer.js";
export type { DevTokenKind, DevTokenOptions } from "./dev-issuer.js";
