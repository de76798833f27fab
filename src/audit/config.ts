/** Settings of the decision audit: `audit` and the top-level `decisionLog`. */
import { z } from "zod";

/** Where decision records can go. */
export const AUDIT_SINKS = ["pino", "memory", "redis"] as const;
/** One audit sink: `pino` (NDJSON to decisionLog), `memory` (an in-process ring), `redis` (a bounded Redis Stream). */
export type AuditSink = (typeof AUDIT_SINKS)[number];

const DAY_MS = 24 * 3600 * 1000;

/** The decision audit. */
export const auditConfigSchema = z.strictObject({
  sinks: z
    .array(z.enum(AUDIT_SINKS))
    .refine((s) => new Set(s).size === s.length, "a sink is listed twice")
    .optional()
    .meta({
      description:
        "Sinks, several at once: `pino` (NDJSON to decisionLog), `memory` (an in-process ring, queryable), `redis` (a bounded Redis Stream shared by every replica, queryable). Default: pino (unless decisionLog is off) plus redis with the Redis store, else memory.",
    }),
  required: z.boolean().default(false).meta({
    env: "MCP_PDP_AUDIT_REQUIRED",
    description: "Every ALLOW waits until the record is durably stored (redis or memory sink); a failure is DENY AUDIT_UNAVAILABLE.",
  }),
  bufferSize: z
    .int()
    .min(1)
    .max(10_000_000)
    .default(10_000)
    .meta({ description: "Records each sink may hold waiting to be written; beyond, records are dropped and counted." }),
  bufferBytes: z
    .int()
    .min(64 * 1024)
    .max(4 * 1024 * 1024 * 1024)
    .default(32 * 1024 * 1024)
    .meta({ description: "Estimated bytes each sink may hold waiting to be written; beyond, records are dropped and counted." }),
  durableTimeoutMs: z.int().min(1).max(60_000).default(2000).meta({ description: "How long an ALLOW waits for a durable write with `required`." }),
  memoryCapacity: z.int().min(1).max(10_000_000).default(100_000).meta({ description: "Records the memory ring keeps." }),
  redisStream: z.string().min(1).default("decisions").meta({ description: "Redis Stream name (the hash chain's name)." }),
  redisMaxLen: z.int().min(0).max(1_000_000_000).default(1_000_000).meta({ description: "Approximate most records in the stream." }),
  redisRetentionMs: z
    .int()
    .min(1000)
    .max(365 * DAY_MS)
    .default(7 * DAY_MS)
    .meta({ description: "Records older than this are trimmed." }),
});

/** Where decision records are written by the pino sink: `stdout`, `stderr`, a file path, or `off`. */
export const decisionLogSchema = z
  .string()
  .min(1)
  .default("stdout")
  .meta({ env: "MCP_PDP_DECISION_LOG", description: "Where decision records go: `stdout`, `stderr`, a file path, or `off`." });

/** The decision audit, with its sinks settled. */
export type AuditConfig = Omit<z.output<typeof auditConfigSchema>, "sinks"> & { readonly sinks: readonly AuditSink[] };

/** The sinks when none are configured: pino (unless the decision log is off), plus redis with the Redis store, else memory. */
export function defaultAuditSinks(storeBackend: "memory" | "redis", decisionLog: string): AuditSink[] {
  return [...(decisionLog === "off" ? [] : (["pino"] as const)), storeBackend === "redis" ? "redis" : "memory"];
}

/** Settles the sinks and returns what is wrong with the combination, if anything. */
export function settleAudit(
  audit: z.output<typeof auditConfigSchema>,
  storeBackend: "memory" | "redis",
  decisionLog: string,
): { readonly audit: AuditConfig; readonly problems: readonly string[] } {
  const sinks = audit.sinks ?? defaultAuditSinks(storeBackend, decisionLog);
  const problems: string[] = [];
  if (sinks.includes("redis") && storeBackend !== "redis") problems.push('audit.sinks: the redis sink needs store.backend "redis"');
  if (audit.required && !sinks.some((s) => s !== "pino")) problems.push("audit.required needs a memory or redis sink to wait for");
  return { audit: { ...audit, sinks }, problems };
}
