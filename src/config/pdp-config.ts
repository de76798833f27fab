/**
 * The whole configuration: the modules' schemas composed, the process-level keys (mode, log
 * level, workers), the defaults that depend on several modules, and the rules across modules.
 * Each key is written once, in the schema of the module that uses it.
 *
 * To add a key: one line in the owning module's schema (a strict zod object; `.default(v)` for a
 * written default, `.meta({ env: "MCP_PDP_…", description })`), and one row in the README's
 * configuration table (test/config/readme-table.test.ts holds the two together). A new module's
 * schema, or its top-level shape, is added to `configShape` below.
 */
import { availableParallelism } from "node:os";
import { z } from "zod";
import { auditConfigSchema, decisionLogSchema, settleAudit, type AuditConfig } from "../audit/config.js";
import { identityConfigSchema } from "../identity/config.js";
import { DEV_ISSUER, withDevelopmentIssuers } from "../identity/dev-issuer.js";
import { httpConfigSchema, settleHttp, type HttpConfig } from "../http/config.js";
import { policyConfigShape, settlePolicies } from "../policy/config.js";
import { serverConfigShape } from "../server/config.js";
import { noveltyConfigSchema, sessionConfigSchema, storeConfigSchema } from "../session/config.js";
import { metricsConfigSchema, tracingConfigSchema } from "../telemetry/config.js";

/** pino's levels, and `silent`. */
export const LOG_LEVELS = ["fatal", "error", "warn", "info", "debug", "trace", "silent"] as const;

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/;

/** The keys of the process itself. */
const processShape = {
  mode: z.enum(["development", "production"]).default("development").meta({
    env: "MCP_PDP_MODE",
    description:
      "`development`: loopback only, callers without credentials accepted, the dev issuer trusted when no issuers are configured. `production`: needs TLS (or allowPlaintext), caller authentication, user and workload issuers; refuses the dev issuer.",
  }),
  logLevel: z.enum(LOG_LEVELS).default("info").meta({ env: "MCP_PDP_LOG_LEVEL", description: "Level of the operational log (pino)." }),
  workers: z
    .union([z.literal("auto"), z.int().min(1).max(64)])
    .default(1)
    .transform((w) => (w === "auto" ? availableParallelism() : w))
    .meta({
      env: "MCP_PDP_WORKERS",
      description:
        'PDP worker processes (node cluster) sharing the listening port, each with its own preparsed policies; "auto" means one per core. More than 1 needs the Redis store.',
    }),
};

/** The configuration as written: every key, strict (an unknown key is an error), with its default. */
const configShape = z.strictObject({
  ...processShape,
  ...serverConfigShape,
  ...policyConfigShape,
  decisionLog: decisionLogSchema,
  identity: identityConfigSchema.prefault({}),
  sessions: sessionConfigSchema.prefault({}),
  store: storeConfigSchema.prefault({}),
  novelty: noveltyConfigSchema.prefault({}),
  audit: auditConfigSchema.prefault({}),
  http: httpConfigSchema.prefault({}),
  metrics: metricsConfigSchema.prefault({}),
  tracing: tracingConfigSchema.prefault({}),
});

/** The configuration schema: the keys, then the defaults and rules that span modules. */
export const pdpConfigSchema = configShape.transform((parsed, ctx) => {
  const { audit, problems } = settleAudit(parsed.audit, parsed.store.backend, parsed.decisionLog);
  const identity = parsed.mode === "development" ? withDevelopmentIssuers(parsed.identity) : parsed.identity;
  const http = settleHttp(parsed.http, parsed);
  const config = { ...parsed, identity, audit, http, policies: settlePolicies(parsed.policies, parsed.mode) };
  for (const message of [...problems, ...workerProblems(config), ...safetyProblems(config)]) ctx.addIssue({ code: "custom", message, input: parsed });
  return config;
});

/** The whole PDP configuration, as loaded and validated. */
export type PdpConfig = z.output<typeof pdpConfigSchema>;

type Settled = Omit<z.output<typeof configShape>, "audit" | "http"> & { readonly audit: AuditConfig; readonly http: HttpConfig };

/** Workers are separate processes: everything they must agree on has to live in Redis. */
function workerProblems(config: Settled): string[] {
  if (config.workers <= 1) return [];
  if (config.store.backend !== "redis")
    return [`workers: ${config.workers} needs store.backend "redis" — with the memory store each worker would keep its own sessions, revocations and approvals`];
  if (config.audit.sinks.includes("memory"))
    return [`workers: ${config.workers} cannot use the memory audit sink (each worker would answer audit queries with its own records only); use "redis"`];
  return [];
}

/** Configurations that would quietly weaken the PDP. */
function safetyProblems(config: Settled): string[] {
  if (config.mode === "development")
    return [...new Set([config.host, ...(config.http.enabled ? [config.http.host] : [])])]
      .filter((host) => !LOOPBACK.test(host))
      .map((host) => `development mode listens on loopback only, not on "${host}"`);
  const { identity } = config;
  const problems: string[] = [];
  if ([...identity.userIssuers, ...identity.workloadIssuers, ...identity.callerIssuers].some((i) => i.issuer === DEV_ISSUER))
    problems.push("the development issuer is refused outside development mode");
  if (identity.userIssuers.length === 0) problems.push("production mode needs identity.userIssuers");
  if (identity.workloadIssuers.length === 0) problems.push("production mode needs identity.workloadIssuers");
  if (!config.tls && !config.allowPlaintext) problems.push("production mode needs tls (or allowPlaintext: true behind a TLS-terminating proxy)");
  if (identity.callerIssuers.length === 0 && !config.tls?.requireClientCert)
    problems.push("production mode needs caller authentication: identity.callerIssuers or tls.requireClientCert");
  return problems;
}
