import { decodeJwt, decodeProtectedHeader, jwtVerify } from "jose";
import type { JWTPayload } from "jose";
import type { IdentityConfig, IssuerConfig, WorkloadIssuerConfig } from "./config.js";
import { PdpError } from "../errors.js";
import { isCanonicalCompactJws } from "./compact-jws.js";
import { createIssuerKeys } from "./issuer-keys.js";
import type { IssuerKeys } from "./issuer-keys.js";
import { JwksEndpoints } from "./jwks-endpoints.js";
import { parseSpiffeId } from "./spiffe.js";
import type { SpiffeId } from "./spiffe.js";
import { TokenCache, tokenCacheKey } from "./token-cache.js";
import type { TokenKind } from "./token-cache.js";
import { toCallerError, toTokenError } from "./token-errors.js";
import type { TokenVerifier, VerifiedCaller, VerifiedUser, VerifiedWorkload } from "./types.js";

/** Options for {@link createTokenVerifier}. */
export interface TokenVerifierOptions {
  /** Caller identities (JWT `sub`) with operator rights. */
  readonly operators: readonly string[];
  /** The clock, in seconds since the epoch. Default the system clock; tests pass a frozen one. */
  readonly now?: () => number;
  /**
   * The IdP breakers' monotonic clock in milliseconds, which decides when a down IdP is probed.
   * Default `performance.now()`; tests pass their own.
   */
  readonly nowMs?: () => number;
}

/** The most clock skew ever tolerated, whatever the config says. */
export const MAX_CLOCK_SKEW_SECONDS = 60;

const BASE_REQUIRED_CLAIMS = ["iss", "sub", "exp", "iat"];

interface TrustedIssuer<C extends IssuerConfig = IssuerConfig> {
  readonly config: C;
  readonly keys: IssuerKeys;
  readonly requiredClaims: readonly string[];
}

interface Verified<C extends IssuerConfig> {
  readonly payload: JWTPayload & { iss: string; sub: string; exp: number; iat: number };
  readonly issuer: TrustedIssuer<C>;
}

type AnyVerified = VerifiedUser | VerifiedWorkload | VerifiedCaller;

/**
 * Builds the PDP's token verifier from the identity config. Issuer key sources are prepared here:
 * JWKS files are read once, remote JWKS URIs are checked (https, or http on loopback) and fetched
 * lazily, each behind its circuit breaker. Throws PdpError CONFIG_INVALID on an unusable issuer.
 */
export function createTokenVerifier(config: IdentityConfig, options: TokenVerifierOptions): TokenVerifier {
  const now = options.now ?? (() => Math.floor(Date.now() / 1000));
  const endpoints = new JwksEndpoints(config, options.nowMs ?? (() => performance.now()));
  const users = trustIssuers(config.userIssuers, endpoints);
  const workloads = trustIssuers(config.workloadIssuers, endpoints);
  const callers = trustIssuers(config.callerIssuers, endpoints);
  const idps = remoteIssuers([users, workloads, callers]);
  const operators = new Set(options.operators);
  const cache = new TokenCache<AnyVerified>(config.tokenCacheSize);
  const clockTolerance = Math.min(Math.max(0, config.clockSkewSeconds), MAX_CLOCK_SKEW_SECONDS);
  const exactAudience = config.requireExactAudience ?? false;
  const counts = { user: { hits: 0, misses: 0 }, workload: { hits: 0, misses: 0 }, caller: { hits: 0, misses: 0 } };

  async function verify<C extends IssuerConfig>(
    token: string,
    issuers: ReadonlyMap<string, TrustedIssuer<C>>,
    audience: string | string[],
  ): Promise<Verified<C>> {
    const issuer = selectIssuer(token, issuers);
    const { payload } = await jwtVerify(token, issuer.keys.getKey, {
      issuer: issuer.config.issuer,
      audience,
      algorithms: [...issuer.keys.algorithms],
      clockTolerance,
      requiredClaims: [...issuer.requiredClaims],
      currentDate: new Date(now() * 1000),
    });
    const checked = checkLifetime(payload, now(), clockTolerance, config.maxTokenLifetimeSeconds);
    return { payload: checked, issuer };
  }

  /**
   * Refuses a non-canonical token before anything else (no digest, no decoding, no key fetch),
   * serves a cached result unless `fresh`, else runs the verification; every failure goes through
   * `mapError` (TOKEN_* for user and workload tokens, CALLER_UNAUTHORIZED for callers).
   */
  async function cached<T extends AnyVerified>(
    kind: TokenKind,
    serverUri: string,
    token: string,
    mapError: (err: unknown) => PdpError,
    run: () => Promise<{ result: T; expiresAt: number }>,
    fresh = false,
  ): Promise<T> {
    try {
      if (!isCanonicalCompactJws(token)) throw new PdpError("TOKEN_INVALID", "token is malformed (not a canonical compact JWS)");
      const key = tokenCacheKey(kind, serverUri, token);
      const hit = fresh ? undefined : cache.get(key, now());
      if (hit !== undefined) {
        counts[kind].hits++;
        return hit as T;
      }
      counts[kind].misses++;
      const { result, expiresAt } = await run();
      cache.set(key, result, expiresAt);
      return result;
    } catch (err) {
      throw mapError(err);
    }
  }

  return {
    verifyUser: (token, serverUri, options) =>
      cached(
        "user",
        serverUri,
        token,
        toTokenError,
        async () => {
          const { payload } = await verify(token, users, serverUri);
          if (exactAudience) checkExactAudience(payload.aud, serverUri);
          return { result: toVerifiedUser(payload), expiresAt: payload.exp };
        },
        options?.fresh,
      ),
    verifyWorkload: (token, serverUri, options) =>
      cached(
        "workload",
        serverUri,
        token,
        toTokenError,
        async () => {
          const verified = await verify(token, workloads, [config.pdpAudience, serverUri]);
          return { result: toVerifiedWorkload(verified), expiresAt: verified.payload.exp };
        },
        options?.fresh,
      ),
    verifyCaller: (token) =>
      cached("caller", "", token, toCallerError, async () => {
        const { payload } = await verify(token, callers, config.pdpAudience);
        const result: VerifiedCaller = { id: payload.sub, via: "jwt", operator: operators.has(payload.sub) };
        return { result, expiresAt: payload.exp };
      }),
    dropCached: () => cache.clear(),
    cacheStats: () => ({ user: { ...counts.user }, workload: { ...counts.workload }, caller: { ...counts.caller } }),
    idpStatus: () => idps.map(({ issuer, url }) => ({ issuer, jwksUri: url.href, ...endpoints.breaker(url).snapshot() })),
    onIdpChange(listener) {
      const unsubscribers = idps.map(({ issuer, url }) =>
        endpoints.breaker(url).onChange((snapshot) => listener({ issuer, jwksUri: url.href, ...snapshot })),
      );
      return () => unsubscribers.forEach((unsubscribe) => unsubscribe());
    },
    close: async () => {
      endpoints.close();
      cache.clear();
    },
  };
}

/** Each issuer whose keys are fetched, once per (issuer, JWKS URI), in config order. */
function remoteIssuers(kinds: readonly ReadonlyMap<string, TrustedIssuer>[]): { issuer: string; url: URL }[] {
  const seen = new Map<string, { issuer: string; url: URL }>();
  for (const issuers of kinds) {
    for (const { config, keys } of issuers.values()) {
      if (keys.jwksUri === undefined) continue;
      const id = `${config.issuer} ${keys.jwksUri.href}`;
      if (!seen.has(id)) seen.set(id, { issuer: config.issuer, url: keys.jwksUri });
    }
  }
  return [...seen.values()];
}

/** With `requireExactAudience`: `aud` must be the server alone (a string, or a list of exactly that one). */
function checkExactAudience(aud: JWTPayload["aud"], serverUri: string): void {
  const list = audienceList(aud);
  if (list.length !== 1 || list[0] !== serverUri) {
    throw new PdpError("AUDIENCE_MISMATCH", "token audience is not exactly this server");
  }
}

function trustIssuers<C extends IssuerConfig>(issuers: readonly C[], endpoints: JwksEndpoints): ReadonlyMap<string, TrustedIssuer<C>> {
  const map = new Map<string, TrustedIssuer<C>>();
  for (const issuer of issuers) {
    if (map.has(issuer.issuer)) {
      throw new PdpError("CONFIG_INVALID", `issuer ${issuer.issuer} is listed twice for the same token kind`);
    }
    const requiredClaims = [...new Set([...BASE_REQUIRED_CLAIMS, ...issuer.requiredClaims])];
    map.set(issuer.issuer, { config: issuer, keys: createIssuerKeys(issuer, endpoints), requiredClaims });
  }
  return map;
}

/**
 * Chooses the issuer config by the token's `iss`, read WITHOUT verification (only to pick the keys
 * and the algorithm allowlist that `jwtVerify` then enforces), and refuses `alg: none` outright.
 */
function selectIssuer<C extends IssuerConfig>(token: string, issuers: ReadonlyMap<string, TrustedIssuer<C>>): TrustedIssuer<C> {
  const { alg, iss } = peek(token);
  if (alg.toLowerCase() === "none") throw new PdpError("TOKEN_INVALID", "unsigned tokens are refused");
  const issuer = iss === undefined ? undefined : issuers.get(iss);
  if (issuer === undefined) throw new PdpError("TOKEN_INVALID", "untrusted token issuer");
  return issuer;
}

function peek(token: string): { alg: string; iss: string | undefined } {
  try {
    const header = decodeProtectedHeader(token);
    const claims = decodeJwt(token);
    if (typeof header.alg !== "string") throw new TypeError("alg");
    return { alg: header.alg, iss: typeof claims.iss === "string" ? claims.iss : undefined };
  } catch (err) {
    throw new PdpError("TOKEN_INVALID", "token is malformed", { cause: err });
  }
}

/** Refuses a token whose life (`exp - iat`) exceeds the maximum, or that was issued in the future. */
function checkLifetime(payload: JWTPayload, now: number, skew: number, maxLifetime: number): Verified<IssuerConfig>["payload"] {
  const { iss, sub, exp, iat } = payload;
  if (typeof iss !== "string" || typeof sub !== "string" || typeof exp !== "number" || typeof iat !== "number") {
    throw new PdpError("TOKEN_INVALID", "token claims are missing or invalid");
  }
  if (iat > now + skew) throw new PdpError("TOKEN_INVALID", "token not yet valid");
  if (exp - iat > maxLifetime) {
    throw new PdpError("TOKEN_INVALID", `token lifetime exceeds the maximum of ${maxLifetime} seconds`);
  }
  return { ...payload, iss, sub, exp, iat };
}

function toVerifiedUser(payload: Verified<IssuerConfig>["payload"]): VerifiedUser {
  return {
    issuer: payload.iss,
    subject: payload.sub,
    clientId: stringClaim(payload.client_id) ?? stringClaim(payload.azp) ?? "",
    audience: audienceList(payload.aud),
    scopes: scopeList(payload),
    ...(typeof payload.jti === "string" ? { tokenId: payload.jti } : {}),
    issuedAt: payload.iat,
    expiresAt: payload.exp,
  };
}

/**
 * The workload identity: `sub` when it is a SPIFFE ID, else the RFC 8693 `act.sub` (delegated). Its
 * trust domain must be one the issuer may vouch for.
 */
function toVerifiedWorkload({ payload, issuer }: Verified<WorkloadIssuerConfig>): VerifiedWorkload {
  const direct = parseSpiffeId(payload.sub);
  const actor = direct === undefined ? actorSpiffeId(payload.act) : undefined;
  const spiffe: SpiffeId | undefined = direct ?? actor;
  if (spiffe === undefined) throw new PdpError("TOKEN_INVALID", "workload identity is not a valid SPIFFE ID");
  if (!issuer.config.trustDomains.includes(spiffe.trustDomain)) {
    throw new PdpError("TOKEN_INVALID", "untrusted trust domain");
  }
  return {
    agentId: spiffe.id,
    trustDomain: spiffe.trustDomain,
    issuer: payload.iss,
    delegated: direct === undefined,
    ...(typeof payload.jti === "string" ? { tokenId: payload.jti } : {}),
    issuedAt: payload.iat,
    expiresAt: payload.exp,
  };
}

function actorSpiffeId(act: unknown): SpiffeId | undefined {
  if (typeof act !== "object" || act === null) return undefined;
  const sub = (act as { sub?: unknown }).sub;
  return typeof sub === "string" ? parseSpiffeId(sub) : undefined;
}

function stringClaim(value: unknown): string | undefined {
  return typeof value === "string" && value.length > 0 ? value : undefined;
}

function audienceList(aud: JWTPayload["aud"]): readonly string[] {
  if (aud === undefined) return [];
  return typeof aud === "string" ? [aud] : aud;
}

function scopeList(payload: JWTPayload): readonly string[] {
  if (typeof payload.scope === "string") return payload.scope.split(" ").filter((s) => s.length > 0);
  if (Array.isArray(payload.scp)) return payload.scp.filter((s): s is string => typeof s === "string");
  return [];
}

