/**
 * What the identity module hands to the rest of the PDP: verified facts only. Nothing here comes
 * from a field the caller merely declared.
 */

/** A verified user access token (RFC 9068 style). */
export interface VerifiedUser {
  /** `iss`, exactly as in the token and in the trusted-issuer list. */
  readonly issuer: string;
  /** `sub`. */
  readonly subject: string;
  /** The OAuth client the token was issued to: `client_id`, else `azp`. Empty when neither is present. */
  readonly clientId: string;
  /** `aud` as a list. */
  readonly audience: readonly string[];
  /** Space-separated `scope` (or `scp` array) as a list. */
  readonly scopes: readonly string[];
  /** `jti`, when present. */
  readonly tokenId?: string;
  /** `iat` in seconds since the epoch. */
  readonly issuedAt: number;
  /** `exp` in seconds since the epoch. */
  readonly expiresAt: number;
}

/** A verified agent workload identity. */
export interface VerifiedWorkload {
  /** The workload's SPIFFE ID (`sub` of a JWT-SVID, or `act.sub` of an RFC 8693 delegated token). */
  readonly agentId: string;
  /** The SPIFFE trust domain of `agentId` (e.g. `prod.example.org`). */
  readonly trustDomain: string;
  /** `iss` of the workload token. */
  readonly issuer: string;
  /** True when the identity came from an RFC 8693 `act` claim rather than `sub`. */
  readonly delegated: boolean;
  /** `jti`, when present. */
  readonly tokenId?: string;
  readonly issuedAt: number;
  readonly expiresAt: number;
}

/** A verified caller of the PDP (an enforcement point or an operator), from a bearer JWT or an mTLS certificate. */
export interface VerifiedCaller {
  /** The caller's identity: the JWT `sub`, or the certificate's URI SAN. For a PEP, its server's canonical URI. */
  readonly id: string;
  /** How the caller proved it. */
  readonly via: "jwt" | "mtls" | "development";
  /** True when `id` is listed as an operator in config. */
  readonly operator: boolean;
}

/** Per-call verification options. */
export interface VerifyOptions {
  /** Verify afresh, bypassing the verified-token cache (high-impact calls). The result is still cached. */
  readonly fresh?: boolean;
}

/** How one issuer's JWKS endpoint is doing (issuers whose keys are fetched; inline keys, files and secrets cannot be down). */
export interface IdpStatus {
  /** The issuer (`iss`). */
  readonly issuer: string;
  /** Where its keys are fetched. */
  readonly jwksUri: string;
  /**
   * `up`: fetches are made. `down`: known to fail; tokens needing a fetch are IDP_UNAVAILABLE at once.
   * `probing`: still down, a background fetch is checking whether it is back.
   */
  readonly state: "up" | "down" | "probing";
  /** Failed fetches in a row (0 after any success). */
  readonly consecutiveFailures: number;
  /** Failed fetches since start (a counter for metrics). */
  readonly failures: number;
  /** Fetches refused at once because the endpoint was down (a counter for metrics). */
  readonly rejected: number;
  /** Why the last fetch failed, in a few words (`timed out`, `HTTP 500`, `connection failed (ECONNREFUSED)`). */
  readonly lastError?: string;
}

/** Verified-token cache counters of one token kind, since start. */
export interface TokenCacheCounts {
  /** Presentations answered from the cache. */
  readonly hits: number;
  /** Presentations verified afresh (not cached, expired, or a high-impact call that bypasses the cache). */
  readonly misses: number;
}

/**
 * Verifies tokens; every method either returns verified facts or throws a PdpError (TOKEN_INVALID,
 * TOKEN_EXPIRED, AUDIENCE_MISMATCH, CLIENT_MISMATCH, CALLER_UNAUTHORIZED, or IDP_UNAVAILABLE when
 * the issuer's keys could not be fetched — never a verdict on the token).
 */
export interface TokenVerifier {
  /**
   * Verifies a user access token for the protected MCP server `serverUri` (its canonical URI, which must be in `aud`).
   */
  verifyUser(token: string, serverUri: string, options?: VerifyOptions): Promise<VerifiedUser>;
  /** Verifies an agent workload token whose audience must be the PDP itself or `serverUri`. */
  verifyWorkload(token: string, serverUri: string, options?: VerifyOptions): Promise<VerifiedWorkload>;
  /** Verifies a caller's bearer token (audience: the PDP). */
  verifyCaller(token: string): Promise<VerifiedCaller>;
  /**
   * Forgets every cached verification result, so that the next presentation of any token is verified
   * afresh (revocation calls this).
   */
  dropCached(): void;
  /** Verified-token cache hits and misses per token kind (for metrics). */
  cacheStats(): Readonly<Record<"user" | "workload" | "caller", TokenCacheCounts>>;
  /** The state of every issuer whose keys are fetched, one entry per issuer and JWKS URI. */
  idpStatus(): readonly IdpStatus[];
  /**
   * Calls `listener` with an issuer's status whenever its JWKS endpoint changes state (for health,
   * metrics and logs). Returns the unsubscribe function. A listener that throws is ignored.
   */
  onIdpChange(listener: (status: IdpStatus) => void): () => void;
  /** Stops background work (IdP probes) and drops the cache. */
  close(): Promise<void>;
}
