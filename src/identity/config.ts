/** Token verification settings: trusted issuers, audience, lifetimes, caches. The `identity` key of the config. */
import type { JSONWebKeySet } from "jose";
import { z } from "zod";

/** Algorithms accepted when an issuer lists none. */
export const DEFAULT_ALGORITHMS: readonly string[] = ["RS256", "ES256", "PS256", "EdDSA"];

const KEY_SOURCES = ["jwksUri", "jwksFile", "jwks", "sharedSecret"] as const;

const jwks = z.custom<JSONWebKeySet>(
  (v) => typeof v === "object" && v !== null && Array.isArray((v as { keys?: unknown }).keys),
  'expected a JWKS object { "keys": [...] }',
);

const issuerShape = {
  issuer: z.string().min(1).meta({ description: "Exact `iss` value." }),
  jwksUri: z.string().min(1).optional().meta({ description: "Where the issuer's JWKS is served (https, or http on loopback only)." }),
  jwksFile: z.string().min(1).optional().meta({ relativePath: true, description: 'A local JWKS file (JSON `{ "keys": [...] }`), read once at start.' }),
  jwks: jwks.optional().meta({ description: "An inline JWKS (public keys only)." }),
  sharedSecret: z
    .string()
    .min(1)
    .optional()
    .meta({ description: "A shared HMAC secret (base64url); only an issuer with one may use HS256/384/512." }),
  algorithms: z
    .array(z.string().min(1))
    .optional()
    .meta({ description: "Accepted `alg` values; `none` is never accepted. Default RS256, ES256, PS256, EdDSA (HS256 with a shared secret)." }),
  requiredClaims: z.array(z.string().min(1)).default([]).meta({ description: "Claims that must be present besides `iss`, `sub`, `exp`, `iat`." }),
  audiences: z.array(z.string().min(1)).default([]).meta({
    description:
      "Audiences this issuer's tokens may carry besides the per-request one (user tokens must always name the MCP server; for callers and workloads this list is the accepted set).",
  }),
};

type IssuerInput = { readonly algorithms?: readonly string[] | undefined; readonly sharedSecret?: string | undefined } & Partial<
  Record<(typeof KEY_SOURCES)[number], unknown>
>;

function issuerRules(issuer: IssuerInput, ctx: z.RefinementCtx): void {
  if (KEY_SOURCES.filter((k) => issuer[k] !== undefined).length !== 1)
    ctx.addIssue({ code: "custom", message: "needs exactly one of jwksUri, jwksFile, jwks, sharedSecret" });
  if (issuer.algorithms?.some((a) => a.toLowerCase() === "none")) ctx.addIssue({ code: "custom", path: ["algorithms"], message: '"none" is never accepted' });
}

function withAlgorithms<T extends IssuerInput>(issuer: T): Omit<T, "algorithms"> & { algorithms: string[] } {
  const algorithms = issuer.algorithms?.length ? [...issuer.algorithms] : issuer.sharedSecret !== undefined ? ["HS256"] : [...DEFAULT_ALGORITHMS];
  return { ...issuer, algorithms };
}

/** One trusted token issuer: exactly one key source (jwksUri, jwksFile, jwks, sharedSecret). */
export const issuerConfigSchema = z.strictObject(issuerShape).superRefine(issuerRules).transform(withAlgorithms);

/** A trusted issuer of agent workload tokens (JWT-SVIDs or RFC 8693 delegated tokens). */
export const workloadIssuerConfigSchema = z
  .strictObject({
    ...issuerShape,
    trustDomains: z
      .array(z.string().min(1))
      .min(1, "must name at least one trust domain")
      .meta({ description: "SPIFFE trust domains whose IDs this issuer may vouch for." }),
  })
  .superRefine(issuerRules)
  .transform(withAlgorithms);

/** The default PDP audience. */
export const DEFAULT_PDP_AUDIENCE = "mcp-pdp";

/** Token verification settings. */
export const identityConfigSchema = z
  .strictObject({
  userIssuers: z.array(issuerConfigSchema).default([]).meta({ description: "Issuers of user tokens." }),
  workloadIssuers: z.array(workloadIssuerConfigSchema).default([]).meta({ description: "Issuers of agent workload tokens." }),
  callerIssuers: z
    .array(issuerConfigSchema)
    .default([])
    .meta({ description: "Issuers of callers' (PEPs', operators') bearer tokens; their audience must be pdpAudience." }),
  pdpAudience: z
    .string()
    .min(1)
    .default(DEFAULT_PDP_AUDIENCE)
    .meta({ description: "The PDP's own audience value (workload tokens may name it; caller tokens must)." }),
  maxTokenLifetimeSeconds: z.int().min(1).max(86400).default(3600).meta({ description: "Tokens with `exp - iat` over this are refused." }),
  clockSkewSeconds: z.int().min(0).max(60).default(30).meta({ description: "Allowed clock skew for exp/nbf/iat." }),
  tokenCacheSize: z.int().min(0).max(10_000_000).default(10_000).meta({ description: "Verified-token cache size (entries); 0 disables the cache." }),
  jwksCooldownSeconds: z.int().min(0).max(3600).default(30).meta({ description: "Minimum seconds between JWKS refetches for an unknown `kid`." }),
  jwksCacheMaxAgeSeconds: z.int().min(1).max(86400).default(600).meta({ description: "Seconds a fetched JWKS is used before it is refetched." }),
  jwksTimeoutMs: z.int().min(100).max(60_000).default(5000).meta({ description: "JWKS fetch timeout in milliseconds." }),
  jwksFailureThreshold: z
    .int()
    .min(1)
    .max(100)
    .default(1)
    .meta({ description: "Failed JWKS fetches in a row after which the IdP counts as down: calls that need its keys are DENY IDP_UNAVAILABLE at once." }),
  jwksProbeIntervalMs: z.int().min(10).max(3_600_000).default(1000).meta({ description: "Wait before probing a down IdP, in ms; doubles after each failed probe." }),
  jwksProbeMaxIntervalMs: z
    .int()
    .min(10)
    .max(3_600_000)
    .optional()
    .meta({ description: "The most the probe wait grows to, in ms. Default: the higher of 5000 and jwksProbeIntervalMs." }),
  requireExactAudience: z
    .boolean()
    .default(false)
    .meta({ description: "A user token's aud must be the server alone (approver tokens: pdpAudience alone)." }),
  })
  .refine((c) => c.jwksProbeMaxIntervalMs === undefined || c.jwksProbeMaxIntervalMs >= c.jwksProbeIntervalMs, {
    path: ["jwksProbeMaxIntervalMs"],
    message: "must not be below identity.jwksProbeIntervalMs",
  })
  .transform((c) => ({ ...c, jwksProbeMaxIntervalMs: c.jwksProbeMaxIntervalMs ?? Math.max(5000, c.jwksProbeIntervalMs) }));

/** One trusted token issuer. */
export type IssuerConfig = z.output<typeof issuerConfigSchema>;
/** A trusted issuer of agent workload tokens. */
export type WorkloadIssuerConfig = z.output<typeof workloadIssuerConfigSchema>;
/** Token verification settings. */
export type IdentityConfig = z.output<typeof identityConfigSchema>;
