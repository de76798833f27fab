import type { RedisClusterOptions, RedisSentinelOptions } from "../session/redis-connection.js";

/** Configuration types. Every value is read and validated in `src/config/load-config.ts` and nowhere else. */

import type { JSONWebKeySet } from "jose";

/** One trusted token issuer. */
export interface IssuerConfig {
  /** Exact `iss` value. */
  readonly issuer: string;
  /** Where the issuer's JWKS is served (https, or http on loopback only). Exactly one of jwksUri, jwksFile, jwks, sharedSecret. */
  readonly jwksUri?: string;
  /** A local JWKS file (JSON `{ "keys": [...] }`), read once when the verifier is built. */
  readonly jwksFile?: string;
  /** An inline JWKS (public keys only), e.g. the bundled development issuer's. */
  readonly jwks?: JSONWebKeySet;
  /**
   * A shared HMAC secret (base64url). Only an issuer configured with it may use HS256/384/512;
   * any other issuer refuses symmetric algorithms.
   */
  readonly sharedSecret?: string;
  /** Accepted `alg` values. Default `["RS256", "ES256", "PS256", "EdDSA"]`. `none` is never accepted. */
  readonly algorithms: readonly string[];
  /** Claims that must be present besides `iss`, `sub`, `exp`, `iat`. */
  readonly requiredClaims: readonly string[];
  /**
   * Audiences this issuer's tokens may carry besides the per-request one (for user tokens, the MCP
   * server's canonical URI is always required; for callers/workloads, this list is the accepted set).
   */
  readonly audiences: readonly string[];
}

/** A trusted issuer of agent workload tokens (JWT-SVIDs or RFC 8693 delegated tokens). */
export interface WorkloadIssuerConfig extends IssuerConfig {
  /** SPIFFE trust domains whose IDs this issuer may vouch for. */
  readonly trustDomains: readonly string[];
}

/** Token verification settings. */
export interface IdentityConfig {
  readonly userIssuers: readonly IssuerConfig[];
  readonly workloadIssuers: readonly WorkloadIssuerConfig[];
  /** Issuers of callers' (PEPs', operators') bearer tokens; their audience must be `pdpAudience`. */
  readonly callerIssuers: readonly IssuerConfig[];
  /** The PDP's own audience value (workload tokens may name it; caller tokens must). */
  readonly pdpAudience: string;
  /** Tokens with `exp - iat` over this are refused. Default 3600. */
  readonly maxTokenLifetimeSeconds: number;
  /** Allowed clock skew for exp/nbf/iat, at most 60. Default 30. */
  readonly clockSkewSeconds: number;
  /** Verified-token cache size (entries). Default 10000. 0 disables the cache. */
  readonly tokenCacheSize: number;
  /** Minimum seconds between JWKS refetches for an unknown `kid` (JWKS cooldown). Default 30. */
  readonly jwksCooldownSeconds: number;
  /** Seconds a fetched JWKS is used before it is refetched. Default 600. */
  readonly jwksCacheMaxAgeSeconds: number;
  /** JWKS fetch timeout in milliseconds. Default 5000. */
  readonly jwksTimeoutMs: number;
  /**
   * Consecutive failed fetches of a JWKS endpoint (timeout, refused connection, non-200 answer, not
   * a JWKS) after which its IdP counts as down: until a background probe finds it back, tokens that
   * need a fetch from it are DENY IDP_UNAVAILABLE at once instead of waiting `jwksTimeoutMs`.
   * Keys already fetched keep verifying. Default 1.
   */
  readonly jwksFailureThreshold?: number;
  /** Wait before probing an IdP that went down, in ms; doubles after each failed probe. Default 1000. */
  readonly jwksProbeIntervalMs?: number;
  /** The most the probe wait grows to, in ms: an IdP that is back is found within about this. Default 5000. */
  readonly jwksProbeMaxIntervalMs?: number;
  /**
   * Refuse a user token (AUDIENCE_MISMATCH) unless its `aud` is exactly the protected server — a
   * token that also names other audiences is refused. Approver tokens, verified as user tokens for
   * the PDP, must then name only `pdpAudience`. Workload and caller tokens are not affected.
   * Default false (the server must be one of the audiences).
   */
  readonly requireExactAudience?: boolean;
}

/** TLS for the gRPC listener. */
export interface TlsConfig {
  readonly certFile: string;
  readonly keyFile: string;
  /** CA bundle for client certificates (mTLS). */
  readonly caFile?: string;
  /** Require a client certificate (mTLS). */
  readonly requireClientCert: boolean;
}

/** Delegated sessions. */
export interface SessionConfig {
  /** Authorize/FilterTools without a session handle are DENY SESSION_REQUIRED. Default true. */
  readonly required: boolean;
  /** Lifetime of a session opened without a requested TTL. Default 900 (15 min). */
  readonly defaultTtlSeconds: number;
  /** Hard maximum session lifetime; a longer request is capped. Default 900. */
  readonly maxTtlSeconds: number;
  /** Most tools, resources and prompts one OpenSession may request (each). Default 100. */
  readonly maxRequestedItems: number;
  /** How long a requested approval stays usable (never past its session's expiry). Default 600. */
  readonly approvalTtlSeconds: number;
}

/** Where session, revocation and approval state lives. */
export interface StoreConfig {
  /** `memory`: this process only (the embedded default). `redis`: shared by every replica. */
  readonly backend: "memory" | "redis";
  /** Redis connection, for `backend: "redis"`. */
  readonly redis?: RedisStoreConfig;
}

/** Redis settings. Exactly one of url, sentinel, cluster. */
export interface RedisStoreConfig {
  /** `redis://[user:pass@]host:port[/db]` or `rediss://…`. */
  readonly url?: string;
  /** Sentinel: `{ sentinels: [{host, port}], name, … }`. */
  readonly sentinel?: RedisSentinelOptions;
  /** Cluster: `{ nodes: [{host, port}], … }`. */
  readonly cluster?: RedisClusterOptions;
  /** Prefix of every key and channel. Default `mcp-pdp:`. */
  readonly keyPrefix: string;
  /** Deadline of each store operation in ms; past it a decision is DENY STORE_UNAVAILABLE. Default 250. */
  readonly deadlineMs: number;
}

/** The decision audit. */
export interface AuditConfig {
  /**
   * Sinks, several at once: `pino` (NDJSON to `decisionLog`), `memory` (an in-process ring, queryable),
   * `redis` (a bounded Redis Stream shared by every replica, queryable). Default: pino plus `redis`
   * when the store is Redis, else `memory`.
   */
  readonly sinks: readonly ("pino" | "memory" | "redis")[];
  /** Every ALLOW waits until the record is durably stored (redis or memory sink); a failure is DENY AUDIT_UNAVAILABLE. Default false. */
  readonly required: boolean;
  /** Records each sink may hold waiting to be written; beyond, records are dropped and counted. Default 10000. */
  readonly bufferSize: number;
  /** Estimated bytes each sink may hold waiting; beyond, records are dropped and counted. Default 32 MiB. */
  readonly bufferBytes: number;
  /** How long an ALLOW waits for a durable write with `required`. Default 2000 ms. */
  readonly durableTimeoutMs: number;
  /** Records the memory ring keeps. Default 100000. */
  readonly memoryCapacity: number;
  /** Redis Stream name (the hash chain's name). Default `decisions`. */
  readonly redisStream: string;
  /** Approximate most records in the stream. Default 1000000. */
  readonly redisMaxLen: number;
  /** Records older than this are trimmed. Default 7 days. */
  readonly redisRetentionMs: number;
}

/** The whole PDP configuration. */
export interface PdpConfig {
  /** `development` allows plaintext and unauthenticated callers on loopback only, and the bundled dev issuer. */
  readonly mode: "development" | "production";
  readonly host: string;
  readonly port: number;
  readonly tls?: TlsConfig;
  /**
   * Production without TLS on the listener, for a deployment behind a TLS-terminating proxy or
   * mesh sidecar. Logged as a warning at every start. Callers must still authenticate.
   */
  readonly allowPlaintext: boolean;
  /** Largest accepted request message in bytes (Authorize is bounded tighter: two tokens + `maxArgumentsBytes` + 16 KiB). Default 256 KiB. */
  readonly maxMessageBytes: number;
  /** Largest accepted `arguments` object, serialised as JSON, in bytes. Default 64 KiB. */
  readonly maxArgumentsBytes: number;
  /** Decisions in flight in one process beyond which the answer is DENY OVERLOADED at once. Default 256. */
  readonly maxInFlight: number;
  /** The Cedar directory (schema, policies, entities, tests). Default the bundled `cedar/`. */
  readonly cedarDir: string;
  readonly identity: IdentityConfig;
  readonly sessions: SessionConfig;
  readonly store: StoreConfig;
  readonly audit: AuditConfig;
  /** Caller identities (JWT `sub` or certificate URI SAN) with operator rights. */
  readonly operators: readonly string[];
  /** pino level for the operational log. */
  readonly logLevel: string;
  /** Where decision records go: `stdout`, `stderr`, a file path, or `off`. Default `stdout`. */
  readonly decisionLog: string;
  /** Seconds to let in-flight calls finish on shutdown. Default 10. */
  readonly shutdownGraceSeconds: number;
  /**
   * PDP worker processes (node cluster) sharing the listening port, each with its own preparsed
   * policies. Default 1 (no cluster); `"auto"` in the file or `MCP_PDP_WORKERS` means one per core.
   * More than 1 needs the Redis store (sessions must be shared).
   */
  readonly workers: number;
}
