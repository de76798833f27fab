import { createRemoteJWKSet, customFetch } from "jose";
import type { JWTVerifyGetKey } from "jose";
import type { IdentityConfig } from "./config.js";
import { JwksBreaker } from "./jwks-breaker.js";

/** The JWKS fetch and breaker settings taken from the identity config. */
export type JwksSettings = Pick<
  IdentityConfig,
  "jwksCooldownSeconds" | "jwksCacheMaxAgeSeconds" | "jwksTimeoutMs" | "jwksFailureThreshold" | "jwksProbeIntervalMs" | "jwksProbeMaxIntervalMs"
>;

/** Defaults of the optional breaker settings. */
export const JWKS_BREAKER_DEFAULTS = Object.freeze({
  /** One failed fetch already cost a caller the whole fetch timeout: do not let the next one pay it too. */
  jwksFailureThreshold: 1,
  jwksProbeIntervalMs: 1000,
  jwksProbeMaxIntervalMs: 5000,
});

interface Endpoint {
  readonly getKey: JWTVerifyGetKey;
  readonly breaker: JwksBreaker;
}

/**
 * The remote JWKS endpoints of one verifier: one jose key set (cache, cooldown, one fetch at a time)
 * and one {@link JwksBreaker} per URI, shared by every issuer and token kind that names that URI.
 */
export class JwksEndpoints {
  readonly #settings: JwksSettings;
  readonly #now: () => number;
  readonly #endpoints = new Map<string, Endpoint>();

  /** @param now the breakers' monotonic clock in ms. */
  constructor(settings: JwksSettings, now: () => number) {
    this.#settings = settings;
    this.#now = now;
  }

  /** The key resolver for `url`, created on first use. */
  keySet(url: URL): JWTVerifyGetKey {
    return this.#endpoint(url).getKey;
  }

  /** The breaker of `url`, created on first use. */
  breaker(url: URL): JwksBreaker {
    return this.#endpoint(url).breaker;
  }

  /** Stops every breaker's probing. */
  close(): void {
    for (const { breaker } of this.#endpoints.values()) breaker.close();
  }

  #endpoint(url: URL): Endpoint {
    const existing = this.#endpoints.get(url.href);
    if (existing !== undefined) return existing;
    const s = this.#settings;
    const probeIntervalMs = s.jwksProbeIntervalMs ?? JWKS_BREAKER_DEFAULTS.jwksProbeIntervalMs;
    const breaker = new JwksBreaker(url, {
      failureThreshold: s.jwksFailureThreshold ?? JWKS_BREAKER_DEFAULTS.jwksFailureThreshold,
      probeIntervalMs,
      probeMaxIntervalMs: s.jwksProbeMaxIntervalMs ?? Math.max(JWKS_BREAKER_DEFAULTS.jwksProbeMaxIntervalMs, probeIntervalMs),
      timeoutMs: s.jwksTimeoutMs,
      now: this.#now,
    });
    const getKey = createRemoteJWKSet(url, {
      cooldownDuration: s.jwksCooldownSeconds * 1000,
      cacheMaxAge: s.jwksCacheMaxAgeSeconds * 1000,
      timeoutDuration: s.jwksTimeoutMs,
      [customFetch]: breaker.fetch,
    });
    const endpoint = { getKey, breaker };
    this.#endpoints.set(url.href, endpoint);
    return endpoint;
  }
}
