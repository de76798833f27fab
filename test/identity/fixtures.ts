/** Shared pieces of the identity tests: a frozen clock, configs built around a JWKS server, error checks. */
import assert from "node:assert/strict";
import type { IdentityConfig, IssuerConfig, WorkloadIssuerConfig } from "../../src/config/types.js";
import { PdpError } from "../../src/errors.js";
import type { PdpErrorCode } from "../../src/errors.js";
import type { JwksServer } from "../support/jwks-server.js";

/** The frozen "now" of token-time tests (epoch seconds). */
export const T0 = 1_800_000_000;
/** The MCP server the tokens are meant for. */
export const SERVER_URI = "https://mcp.example.test/mcp";
/** Another MCP server. */
export const OTHER_SERVER_URI = "https://other.example.test/mcp";
/** The PDP's audience. */
export const PDP_AUDIENCE = "mcp-pdp";
/** The trust domain the workload issuer may vouch for. */
export const TRUST_DOMAIN = "prod.example.test";
/** A workload SPIFFE ID in that trust domain. */
export const AGENT_ID = `spiffe://${TRUST_DOMAIN}/agent/research-assistant`;

/** A mutable frozen clock. */
export function frozenClock(start = T0): { now: () => number; set(t: number): void } {
  let t = start;
  return { now: () => t, set: (v) => void (t = v) };
}

/** An issuer config for the JWKS server's keys. */
export function jwksIssuer(jwks: JwksServer, extra: Partial<IssuerConfig> = {}): IssuerConfig {
  return { issuer: jwks.issuer, jwksUri: jwks.jwksUri, algorithms: [jwks.alg], requiredClaims: [], audiences: [], ...extra };
}

/** A workload issuer config for the JWKS server's keys, trusting {@link TRUST_DOMAIN}. */
export function workloadIssuer(jwks: JwksServer, extra: Partial<WorkloadIssuerConfig> = {}): WorkloadIssuerConfig {
  return { ...jwksIssuer(jwks), trustDomains: [TRUST_DOMAIN], ...extra };
}

/** An identity config trusting `jwks` for every kind of token, with test-friendly defaults. */
export function identityConfig(jwks: JwksServer, overrides: Partial<IdentityConfig> = {}): IdentityConfig {
  return {
    userIssuers: [jwksIssuer(jwks)],
    workloadIssuers: [workloadIssuer(jwks)],
    callerIssuers: [jwksIssuer(jwks)],
    pdpAudience: PDP_AUDIENCE,
    maxTokenLifetimeSeconds: 3600,
    clockSkewSeconds: 30,
    tokenCacheSize: 100,
    jwksCooldownSeconds: 30,
    jwksCacheMaxAgeSeconds: 600,
    jwksTimeoutMs: 2000,
    jwksFailureThreshold: 1,
    jwksProbeIntervalMs: 1000,
    jwksProbeMaxIntervalMs: 5000,
    requireExactAudience: false,
    ...overrides,
  };
}

/** Standard valid claims at the frozen time. */
export function claims(extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { sub: "alice", aud: SERVER_URI, iat: T0, exp: T0 + 300, client_id: "client-1", ...extra };
}

/**
 * Asserts that `promise` rejects with a PdpError of `code` whose message matches `message`, and that
 * the message contains neither the token nor any of its segments.
 */
export async function assertRefused(promise: Promise<unknown>, code: PdpErrorCode, message: RegExp, token?: string): Promise<PdpError> {
  const err = await promise.then(
    () => assert.fail(`expected ${code}, but the token was accepted`),
    (e: unknown) => e,
  );
  assert.ok(err instanceof PdpError, `expected a PdpError, got ${String(err)}`);
  assert.equal(err.code, code, `code (message: ${err.message})`);
  assert.match(err.message, message);
  if (token !== undefined) {
    for (const part of [token, ...token.split(".")].filter((p) => p.length >= 8)) {
      assert.ok(!err.message.includes(part), "error message leaks the token");
    }
  }
  return err;
}
