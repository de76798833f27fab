/*
 * ╔══════════════════════════════════════════════════════════════════════════════════════════════╗
 * ║                               DEVELOPMENT ONLY — NEVER TRUSTED IN PRODUCTION                 ║
 * ║                                                                                              ║
 * ║  This module embeds a FIXED, PUBLICLY KNOWN ES256 private key. Anyone who has read this file ║
 * ║  can mint tokens for any user, agent or caller of this issuer. It exists so that             ║
 * ║  `mcp-pdp dev token …`, the examples and the tests can run without an identity provider.     ║
 * ║  Config loading refuses DEV_ISSUER outside development mode; keep it that way.               ║
 * ╚══════════════════════════════════════════════════════════════════════════════════════════════╝
 */
import { SignJWT, importJWK } from "jose";
import type { JSONWebKeySet, JWK, JWTPayload } from "jose";
import { DEFAULT_PDP_AUDIENCE, identityConfigSchema, type IdentityConfig, type IssuerConfig } from "./config.js";

/** The development issuer's `iss`. DEVELOPMENT ONLY: its private key is public. */
export const DEV_ISSUER = "https://dev-issuer.mcp-pdp.invalid";
/** The SPIFFE trust domain the development issuer vouches for. DEVELOPMENT ONLY. */
export const DEV_TRUST_DOMAIN = "dev.mcp-pdp.local";
/** The PDP audience in development. */
export const DEV_PDP_AUDIENCE = DEFAULT_PDP_AUDIENCE;
/** The MCP server URI that development user tokens name by default (override with `audience`). */
export const DEV_MCP_SERVER_URI = "https://docs.example.com/mcp";
/** The `kid` of the development key. */
export const DEV_KEY_ID = "mcp-pdp-dev-1";

/** The development issuer's public key. DEVELOPMENT ONLY. */
export const DEV_PUBLIC_JWK: JWK = Object.freeze({
  kty: "EC",
  crv: "P-256",
  x: "5HbUILjUzbOZeF_TmcWEf9UL_uQvmhwLNBuRqKi0xK0",
  y: "d8J5YDbNsfTKG2vp0TZZxOuxpZwUATJzQ1qrPOe5zDM",
  kid: DEV_KEY_ID,
  alg: "ES256",
  use: "sig",
});

/** The development issuer's PRIVATE key — published on purpose, so NEVER trust this issuer in production. */
const DEV_PRIVATE_JWK: JWK = Object.freeze({ ...DEV_PUBLIC_JWK, d: "gP7FT8IMzWPyH5Y0ggpWHQyo7BO-pb7qiQFgRY3krro" });

/** The development issuer's public JWKS. */
export const DEV_JWKS: JSONWebKeySet = Object.freeze({ keys: [DEV_PUBLIC_JWK] });

function devIssuerConfig(): IssuerConfig {
  return { issuer: DEV_ISSUER, jwks: DEV_JWKS, algorithms: ["ES256"], requiredClaims: [], audiences: [] };
}

/**
 * An identity config that trusts only the development issuer, for users, workloads and callers,
 * with the usual defaults. DEVELOPMENT ONLY.
 */
export function devIdentityConfig(): IdentityConfig {
  return {
    ...identityConfigSchema.parse({}),
    userIssuers: [devIssuerConfig()],
    workloadIssuers: [{ ...devIssuerConfig(), trustDomains: [DEV_TRUST_DOMAIN] }],
    callerIssuers: [devIssuerConfig()],
    pdpAudience: DEV_PDP_AUDIENCE,
  };
}

/**
 * Development mode's identity: when no user and no workload issuer is configured, trust the
 * development issuer for users and workloads, and for callers too unless caller issuers are
 * configured. Otherwise `config` unchanged. DEVELOPMENT ONLY.
 */
export function withDevelopmentIssuers(config: IdentityConfig): IdentityConfig {
  if (config.userIssuers.length > 0 || config.workloadIssuers.length > 0) return config;
  const dev = devIdentityConfig();
  return {
    ...config,
    userIssuers: dev.userIssuers,
    workloadIssuers: dev.workloadIssuers,
    callerIssuers: config.callerIssuers.length > 0 ? config.callerIssuers : dev.callerIssuers,
  };
}

/** The kinds of development token. */
export type DevTokenKind = "user" | "workload" | "caller";

/** Options for {@link mintDevToken}; every field has a default. */
export interface DevTokenOptions {
  /** `sub`. Default: user `alice`; workload `spiffe://dev.mcp-pdp.local/agent/research-assistant`; caller {@link DEV_MCP_SERVER_URI}. */
  readonly subject?: string;
  /** `aud`. Default: user {@link DEV_MCP_SERVER_URI}; workload and caller {@link DEV_PDP_AUDIENCE}. */
  readonly audience?: string | readonly string[];
  /** `client_id` (user tokens). Default `dev-client`. */
  readonly clientId?: string;
  /** Space-joined into `scope`. Default none. */
  readonly scopes?: readonly string[];
  /** Lifetime in seconds. Default 900. */
  readonly ttlSeconds?: number;
  /** `jti`. Default a random UUID. */
  readonly jti?: string;
  /** RFC 8693 actor claim, e.g. `{ sub: "spiffe://dev.mcp-pdp.local/agent/x" }`. */
  readonly act?: Record<string, unknown>;
  /** Any further claims (they cannot override iss, iat or exp). */
  readonly extra?: Record<string, unknown>;
  /** Issue time in epoch seconds. Default now. */
  readonly issuedAt?: number;
}

const DEFAULT_SUBJECT: Record<DevTokenKind, string> = {
  user: "alice",
  workload: `spiffe://${DEV_TRUST_DOMAIN}/agent/research-assistant`,
  caller: DEV_MCP_SERVER_URI,
};

/** Signs a development token of the given kind with the embedded key. DEVELOPMENT ONLY. */
export async function mintDevToken(kind: DevTokenKind, options: DevTokenOptions = {}): Promise<string> {
  const iat = options.issuedAt ?? Math.floor(Date.now() / 1000);
  const key = await importJWK(DEV_PRIVATE_JWK, "ES256");
  return new SignJWT(devClaims(kind, options))
    .setProtectedHeader({ alg: "ES256", kid: DEV_KEY_ID, typ: kind === "user" ? "at+jwt" : "JWT" })
    .setIssuer(DEV_ISSUER)
    .setIssuedAt(iat)
    .setExpirationTime(iat + (options.ttlSeconds ?? 900))
    .sign(key);
}

function devClaims(kind: DevTokenKind, options: DevTokenOptions): JWTPayload {
  const audience = options.audience ?? (kind === "user" ? DEV_MCP_SERVER_URI : DEV_PDP_AUDIENCE);
  return {
    ...options.extra,
    sub: options.subject ?? DEFAULT_SUBJECT[kind],
    aud: typeof audience === "string" ? audience : [...audience],
    jti: options.jti ?? crypto.randomUUID(),
    ...(kind === "user" ? { client_id: options.clientId ?? "dev-client" } : {}),
    ...(options.scopes !== undefined && options.scopes.length > 0 ? { scope: options.scopes.join(" ") } : {}),
    ...(options.act !== undefined ? { act: options.act } : {}),
  };
}
