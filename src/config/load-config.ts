import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { PdpError } from "../errors.js";
import { DEV_ISSUER, devIdentityConfig } from "../identity/dev-issuer.js";
import type {
  AuditConfig,
  IdentityConfig,
  IssuerConfig,
  PdpConfig,
  RedisStoreConfig,
  SessionConfig,
  StoreConfig,
  TlsConfig,
  WorkloadIssuerConfig,
} from "./types.js";

/** The package root (where the bundled `cedar/` lives), from `src/config` or `dist/config`. */
export const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

const DEFAULT_ALGORITHMS = ["RS256", "ES256", "PS256", "EdDSA"];
const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

/** Options for {@link loadConfig}. */
export interface LoadConfigOptions {
  /** A JSON config file; default `MCP_PDP_CONFIG` if set, else none (embedded defaults). */
  readonly file?: string;
  /** Environment to read overrides from. Default `process.env`. */
  readonly env?: NodeJS.ProcessEnv;
  /** Values that win over file and environment (used by tests and the CLI). */
  readonly overrides?: Partial<Record<keyof PdpConfig, unknown>>;
}

type Raw = Record<string, unknown>;

function fail(message: string): never {
  throw new PdpError("CONFIG_INVALID", `config: ${message}`);
}

function str(v: unknown, name: string, fallback?: string): string {
  if (v === undefined || v === "") {
    if (fallback === undefined) fail(`${name} is required`);
    return fallback;
  }
  if (typeof v !== "string") fail(`${name} must be a string`);
  return v;
}

function int(v: unknown, name: string, fallback: number, min: number, max: number): number {
  const n = v === undefined || v === "" ? fallback : typeof v === "string" ? Number(v) : v;
  if (typeof n !== "number" || !Number.isInteger(n) || n < min || n > max) fail(`${name} must be an integer in [${min}, ${max}]`);
  return n;
}

function bool(v: unknown, name: string, fallback: boolean): boolean {
  if (v === undefined || v === "") return fallback;
  if (typeof v === "boolean") return v;
  if (v === "true" || v === "1") return true;
  if (v === "false" || v === "0") return false;
  fail(`${name} must be true or false`);
}

function strList(v: unknown, name: string): string[] {
  if (v === undefined || v === "") return [];
  if (typeof v === "string") return v.split(",").map((s) => s.trim()).filter(Boolean);
  if (!Array.isArray(v) || v.some((s) => typeof s !== "string")) fail(`${name} must be a list of strings`);
  return v as string[];
}

function issuer(raw: unknown, name: string, baseDir: string): IssuerConfig {
  if (!raw || typeof raw !== "object") fail(`${name} must be an object`);
  const r = raw as Raw;
  const sources = ["jwksUri", "jwksFile", "jwks", "sharedSecret"].filter((k) => r[k] !== undefined);
  if (sources.length !== 1) fail(`${name} needs exactly one of jwksUri, jwksFile, jwks, sharedSecret`);
  const algorithms = strList(r.algorithms, `${name}.algorithms`);
  if (algorithms.some((a) => a.toLowerCase() === "none")) fail(`${name}.algorithms: "none" is never accepted`);
  return {
    issuer: str(r.issuer, `${name}.issuer`),
    ...(r.jwksUri !== undefined && { jwksUri: str(r.jwksUri, `${name}.jwksUri`) }),
    ...(r.jwksFile !== undefined && { jwksFile: path.resolve(baseDir, str(r.jwksFile, `${name}.jwksFile`)) }),
    ...(r.jwks !== undefined && { jwks: r.jwks as IssuerConfig["jwks"] }),
    ...(r.sharedSecret !== undefined && { sharedSecret: str(r.sharedSecret, `${name}.sharedSecret`) }),
    algorithms: algorithms.length ? algorithms : r.sharedSecret !== undefined ? ["HS256"] : DEFAULT_ALGORITHMS,
    requiredClaims: strList(r.requiredClaims, `${name}.requiredClaims`),
    audiences: strList(r.audiences, `${name}.audiences`),
  };
}

function issuers(raw: unknown, name: string, baseDir: string): IssuerConfig[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) fail(`${name} must be a list`);
  return raw.map((r, i) => issuer(r, `${name}[${i}]`, baseDir));
}

function identity(raw: unknown, mode: PdpConfig["mode"], baseDir: string): IdentityConfig {
  const r = (raw ?? {}) as Raw;
  const dev = devIdentityConfig();
  const userIssuers = issuers(r.userIssuers, "identity.userIssuers", baseDir);
  const workloadIssuers: WorkloadIssuerConfig[] = issuers(r.workloadIssuers, "identity.workloadIssuers", baseDir).map(
    (iss, i) => {
      const domains = strList(((r.workloadIssuers as Raw[])[i] as Raw).trustDomains, `identity.workloadIssuers[${i}].trustDomains`);
      if (domains.length === 0) fail(`identity.workloadIssuers[${i}].trustDomains must name at least one trust domain`);
      return { ...iss, trustDomains: domains };
    },
  );
  const callerIssuers = issuers(r.callerIssuers, "identity.callerIssuers", baseDir);
  const useDev = mode === "development" && userIssuers.length === 0 && workloadIssuers.length === 0;
  const skew = int(r.clockSkewSeconds, "identity.clockSkewSeconds", dev.clockSkewSeconds, 0, 60);
  const probeInterval = int(r.jwksProbeIntervalMs, "identity.jwksProbeIntervalMs", 1000, 10, 3_600_000);
  return {
    userIssuers: useDev ? dev.userIssuers : userIssuers,
    workloadIssuers: useDev ? dev.workloadIssuers : workloadIssuers,
    callerIssuers: useDev && callerIssuers.length === 0 ? dev.callerIssuers : callerIssuers,
    pdpAudience: str(r.pdpAudience, "identity.pdpAudience", dev.pdpAudience),
    maxTokenLifetimeSeconds: int(r.maxTokenLifetimeSeconds, "identity.maxTokenLifetimeSeconds", 3600, 1, 86400),
    clockSkewSeconds: skew,
    tokenCacheSize: int(r.tokenCacheSize, "identity.tokenCacheSize", 10000, 0, 10_000_000),
    jwksCooldownSeconds: int(r.jwksCooldownSeconds, "identity.jwksCooldownSeconds", 30, 0, 3600),
    jwksCacheMaxAgeSeconds: int(r.jwksCacheMaxAgeSeconds, "identity.jwksCacheMaxAgeSeconds", 600, 1, 86400),
    jwksTimeoutMs: int(r.jwksTimeoutMs, "identity.jwksTimeoutMs", 5000, 100, 60000),
    jwksFailureThreshold: int(r.jwksFailureThreshold, "identity.jwksFailureThreshold", 1, 1, 100),
    jwksProbeIntervalMs: probeInterval,
    jwksProbeMaxIntervalMs: int(r.jwksProbeMaxIntervalMs, "identity.jwksProbeMaxIntervalMs", Math.max(5000, probeInterval), probeInterval, 3_600_000),
    requireExactAudience: bool(r.requireExactAudience, "identity.requireExactAudience", false),
  };
}

function tls(raw: unknown, baseDir: string): TlsConfig | undefined {
  if (raw === undefined) return undefined;
  const r = raw as Raw;
  const caFile = r.caFile === undefined ? undefined : path.resolve(baseDir, str(r.caFile, "tls.caFile"));
  const requireClientCert = bool(r.requireClientCert, "tls.requireClientCert", false);
  if (requireClientCert && !caFile) fail("tls.requireClientCert needs tls.caFile");
  return {
    certFile: path.resolve(baseDir, str(r.certFile, "tls.certFile")),
    keyFile: path.resolve(baseDir, str(r.keyFile, "tls.keyFile")),
    ...(caFile && { caFile }),
    requireClientCert,
  };
}

/** Environment variables and the config key each one overrides. */
export const ENV_OVERRIDES: Readonly<Record<string, string>> = {
  MCP_PDP_MODE: "mode",
  MCP_PDP_HOST: "host",
  MCP_PDP_PORT: "port",
  MCP_PDP_CEDAR_DIR: "cedarDir",
  MCP_PDP_LOG_LEVEL: "logLevel",
  MCP_PDP_DECISION_LOG: "decisionLog",
  MCP_PDP_OPERATORS: "operators",
  MCP_PDP_ALLOW_PLAINTEXT: "allowPlaintext",
  MCP_PDP_WORKERS: "workers",
};

/** Environment variables for nested keys. */
const NESTED_ENV: Readonly<Record<string, [string, string]>> = {
  MCP_PDP_STORE: ["store", "backend"],
  MCP_PDP_REDIS_URL: ["store.redis", "url"],
  MCP_PDP_REDIS_PREFIX: ["store.redis", "keyPrefix"],
  MCP_PDP_SESSIONS_REQUIRED: ["sessions", "required"],
  MCP_PDP_AUDIT_REQUIRED: ["audit", "required"],
};

function applyNestedEnv(raw: Raw, env: NodeJS.ProcessEnv): void {
  for (const [name, [objPath, key]] of Object.entries(NESTED_ENV)) {
    if (env[name] === undefined) continue;
    let target = raw;
    for (const part of objPath.split(".")) target = (target[part] ??= {}) as Raw;
    target[key] = env[name];
  }
}

function sessions(raw: unknown): SessionConfig {
  const r = (raw ?? {}) as Raw;
  const maxTtlSeconds = int(r.maxTtlSeconds, "sessions.maxTtlSeconds", 900, 1, 86400);
  return {
    required: bool(r.required, "sessions.required", true),
    defaultTtlSeconds: int(r.defaultTtlSeconds, "sessions.defaultTtlSeconds", Math.min(900, maxTtlSeconds), 1, maxTtlSeconds),
    maxTtlSeconds,
    maxRequestedItems: int(r.maxRequestedItems, "sessions.maxRequestedItems", 100, 1, 10000),
    approvalTtlSeconds: int(r.approvalTtlSeconds, "sessions.approvalTtlSeconds", 600, 1, 86400),
  };
}

const SINKS = ["pino", "memory", "redis"] as const;

function audit(raw: unknown, storeConfig: StoreConfig, decisionLog: string): AuditConfig {
  const r = (raw ?? {}) as Raw;
  const fallback = [...(decisionLog === "off" ? [] : ["pino"]), storeConfig.backend === "redis" ? "redis" : "memory"];
  const sinks = r.sinks === undefined ? fallback : strList(r.sinks, "audit.sinks");
  for (const s of sinks) if (!(SINKS as readonly string[]).includes(s)) fail(`audit.sinks: unknown sink "${s}" (pino, memory, redis)`);
  if (new Set(sinks).size !== sinks.length) fail("audit.sinks: a sink is listed twice");
  if (sinks.includes("redis") && storeConfig.backend !== "redis") fail("audit.sinks: the redis sink needs store.backend redis");
  const required = bool(r.required, "audit.required", false);
  if (required && !sinks.some((s) => s !== "pino")) fail("audit.required needs a memory or redis sink to wait for");
  return {
    sinks: sinks as AuditConfig["sinks"],
    required,
    bufferSize: int(r.bufferSize, "audit.bufferSize", 10_000, 1, 10_000_000),
    bufferBytes: int(r.bufferBytes, "audit.bufferBytes", 32 * 1024 * 1024, 64 * 1024, 4 * 1024 * 1024 * 1024),
    durableTimeoutMs: int(r.durableTimeoutMs, "audit.durableTimeoutMs", 2000, 1, 60_000),
    memoryCapacity: int(r.memoryCapacity, "audit.memoryCapacity", 100_000, 1, 10_000_000),
    redisStream: str(r.redisStream, "audit.redisStream", "decisions"),
    redisMaxLen: int(r.redisMaxLen, "audit.redisMaxLen", 1_000_000, 0, 1_000_000_000),
    redisRetentionMs: int(r.redisRetentionMs, "audit.redisRetentionMs", 7 * 24 * 3600 * 1000, 1000, 365 * 24 * 3600 * 1000),
  };
}

function store(raw: unknown): StoreConfig {
  const r = (raw ?? {}) as Raw;
  const backend = str(r.backend, "store.backend", r.redis ? "redis" : "memory");
  if (backend === "memory") return { backend };
  if (backend !== "redis") fail(`store.backend must be "memory" or "redis", not "${backend}"`);
  const redis = (r.redis ?? {}) as Raw;
  const targets = ["url", "sentinel", "cluster"].filter((k) => redis[k] !== undefined);
  if (targets.length !== 1) fail("store.redis needs exactly one of url, sentinel, cluster");
  const keyPrefix = str(redis.keyPrefix, "store.redis.keyPrefix", "mcp-pdp:");
  if (/[{}]/.test(keyPrefix)) fail("store.redis.keyPrefix must not contain braces (they would pin every key to one cluster slot)");
  return {
    backend,
    redis: {
      ...(redis.url !== undefined && { url: str(redis.url, "store.redis.url") }),
      ...(redis.sentinel !== undefined && { sentinel: redis.sentinel as RedisStoreConfig["sentinel"] }),
      ...(redis.cluster !== undefined && { cluster: redis.cluster as RedisStoreConfig["cluster"] }),
      keyPrefix,
      deadlineMs: int(redis.deadlineMs, "store.redis.deadlineMs", 250, 10, 60000),
    },
  };
}

function readFile(file: string): Raw {
  try {
    const parsed: unknown = JSON.parse(readFileSync(file, "utf8"));
    if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) fail(`${file} must hold a JSON object`);
    return parsed as Raw;
  } catch (err) {
    if (err instanceof PdpError) throw err;
    fail(`cannot read ${file}: ${(err as Error).message}`);
  }
}

/**
 * Reads the configuration: embedded defaults, then the JSON file, then `MCP_PDP_*` environment
 * variables, then explicit overrides. Validates everything; throws PdpError CONFIG_INVALID.
 */
export function loadConfig(options: LoadConfigOptions = {}): PdpConfig {
  const env = options.env ?? process.env;
  const file = options.file ?? env.MCP_PDP_CONFIG;
  const raw: Raw = file ? readFile(file) : {};
  const baseDir = file ? path.dirname(path.resolve(file)) : process.cwd();
  for (const [name, key] of Object.entries(ENV_OVERRIDES)) if (env[name] !== undefined) raw[key] = env[name];
  applyNestedEnv(raw, env);
  Object.assign(raw, options.overrides);

  const mode = str(raw.mode, "mode", "development");
  if (mode !== "development" && mode !== "production") fail(`mode must be "development" or "production", not "${mode}"`);
  const host = str(raw.host, "host", "127.0.0.1");
  const storeConfig = store(raw.store);
  const decisionLog = str(raw.decisionLog, "decisionLog", "stdout");
  const config: PdpConfig = {
    mode,
    host,
    port: int(raw.port, "port", 50051, 0, 65535),
    ...(raw.tls !== undefined && { tls: tls(raw.tls, baseDir) }),
    allowPlaintext: bool(raw.allowPlaintext, "allowPlaintext", false),
    maxMessageBytes: int(raw.maxMessageBytes, "maxMessageBytes", 256 * 1024, 1024, 64 * 1024 * 1024),
    maxArgumentsBytes: int(raw.maxArgumentsBytes, "maxArgumentsBytes", 64 * 1024, 0, 16 * 1024 * 1024),
    maxInFlight: int(raw.maxInFlight, "maxInFlight", 256, 1, 1_000_000),
    cedarDir: path.resolve(baseDir, str(raw.cedarDir, "cedarDir", path.join(packageRoot, "cedar"))),
    identity: identity(raw.identity, mode, baseDir),
    sessions: sessions(raw.sessions),
    store: storeConfig,
    audit: audit(raw.audit, storeConfig, decisionLog),
    operators: strList(raw.operators, "operators"),
    logLevel: logLevel(raw.logLevel, () => origin("logLevel", "MCP_PDP_LOG_LEVEL", options, env, file)),
    decisionLog,
    shutdownGraceSeconds: int(raw.shutdownGraceSeconds, "shutdownGraceSeconds", 10, 0, 300),
    workers: raw.workers === "auto" ? availableParallelism() : int(raw.workers, "workers", 1, 1, 64),
  };
  checkWorkers(config);
  checkSafety(config);
  return config;
}

const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"];

/** Where a key's value came from, for messages: the override, the environment variable, or the file. */
function origin(key: keyof PdpConfig, envName: string, options: LoadConfigOptions, env: NodeJS.ProcessEnv, file: string | undefined): string {
  if (options.overrides?.[key] !== undefined) return "overrides";
  return env[envName] !== undefined ? envName : (file ?? "defaults");
}

function logLevel(v: unknown, from: () => string): string {
  const level = str(v, "logLevel", "info");
  if (!LOG_LEVELS.includes(level)) fail(`logLevel must be one of ${LOG_LEVELS.join(",")} (got "${level}" from ${from()})`);
  return level;
}

/** Workers are separate processes: everything they must agree on has to live in Redis. */
function checkWorkers(config: PdpConfig): void {
  if (config.workers <= 1) return;
  if (config.store.backend !== "redis")
    fail(`workers: ${config.workers} needs store.backend "redis" — with the memory store each worker would keep its own sessions, revocations and approvals`);
  if (config.audit.sinks.includes("memory")) fail(`workers: ${config.workers} cannot use the memory audit sink (each worker would answer audit queries with its own records only); use "redis"`);
}

/** Refuses configurations that would quietly weaken the PDP. */
function checkSafety(config: PdpConfig): void {
  const all = [...config.identity.userIssuers, ...config.identity.workloadIssuers, ...config.identity.callerIssuers];
  if (config.mode === "development") {
    if (!LOOPBACK.test(config.host)) fail(`development mode listens on loopback only, not on "${config.host}"`);
    return;
  }
  if (all.some((i) => i.issuer === DEV_ISSUER)) fail("the development issuer is refused outside development mode");
  if (config.identity.userIssuers.length === 0) fail("production mode needs identity.userIssuers");
  if (config.identity.workloadIssuers.length === 0) fail("production mode needs identity.workloadIssuers");
  if (!config.tls && !config.allowPlaintext) fail("production mode needs tls (or allowPlaintext: true behind a TLS-terminating proxy)");
  if (config.identity.callerIssuers.length === 0 && !config.tls?.requireClientCert)
    fail("production mode needs caller authentication: identity.callerIssuers or tls.requireClientCert");
}
