/** Settings of delegated sessions (`sessions`) and of the state store (`store`). */
import { z } from "zod";
import type { RedisClusterOptions, RedisSentinelOptions } from "../redis/connection.js";

const SESSION_TTL_SECONDS = 900;

/** Delegated sessions. */
export const sessionConfigSchema = z
  .strictObject({
    required: z
      .boolean()
      .default(true)
      .meta({ env: "MCP_PDP_SESSIONS_REQUIRED", description: "Authorize/FilterTools without a session handle are DENY SESSION_REQUIRED." }),
    defaultTtlSeconds: z
      .int()
      .min(1)
      .max(86400)
      .optional()
      .meta({ description: `Lifetime of a session opened without a requested TTL; the lower of ${SESSION_TTL_SECONDS} and maxTtlSeconds if not set.` }),
    maxTtlSeconds: z.int().min(1).max(86400).default(SESSION_TTL_SECONDS).meta({ description: "Hard maximum session lifetime; a longer request is capped." }),
    maxRequestedItems: z.int().min(1).max(10000).default(100).meta({ description: "Most tools, resources and prompts one OpenSession may request (each)." }),
    approvalTtlSeconds: z
      .int()
      .min(1)
      .max(86400)
      .default(600)
      .meta({ description: "How long a requested approval stays usable (never past its session's expiry)." }),
  })
  .refine((s) => s.defaultTtlSeconds === undefined || s.defaultTtlSeconds <= s.maxTtlSeconds, {
    path: ["defaultTtlSeconds"],
    message: "must not exceed sessions.maxTtlSeconds",
  })
  .transform((s) => ({ ...s, defaultTtlSeconds: s.defaultTtlSeconds ?? Math.min(SESSION_TTL_SECONDS, s.maxTtlSeconds) }));

/** Delegated sessions. */
export type SessionConfig = z.output<typeof sessionConfigSchema>;

/** Third-party trust expansion: which relations are first seen (docs/trust-expansion.md). */
export const noveltyConfigSchema = z.strictObject({
  enabled: z
    .boolean()
    .default(true)
    .meta({ description: "Observe first-seen relations when a session opens (one store call per OpenSession); calls in the session get `context.novelty` and records `firstSeen`." }),
  windowSeconds: z
    .int()
    .min(1)
    .max(366 * 86400)
    .default(30 * 86400)
    .meta({ description: "The look-back window: a relation not seen for this long is first seen again." }),
  probationSeconds: z
    .int()
    .min(0)
    .max(366 * 86400)
    .default(0)
    .meta({ description: "How long after its first sighting a relation still counts as new (every session opened in that time gets the fact); 0: the first session only." }),
  maxEntries: z
    .int()
    .min(100)
    .max(100_000_000)
    .default(100_000)
    .meta({ description: "Most relations kept (shared by every replica with Redis); past it the ones seen longest ago are evicted and counted." }),
});

/** Third-party trust expansion settings. */
export type NoveltyConfig = z.output<typeof noveltyConfigSchema>;

const nodeAddress = z.strictObject({ host: z.string().min(1), port: z.int().min(1).max(65535) });

/** Redis Sentinel: the client asks the sentinels where the master (or a replica) of `name` is. */
const redisSentinelSchema = z.strictObject({
  sentinels: z.array(nodeAddress).min(1, "must name at least one sentinel"),
  name: z.string().min(1),
  role: z.enum(["master", "slave"]).optional(),
  username: z.string().optional(),
  password: z.string().optional(),
  sentinelUsername: z.string().optional(),
  sentinelPassword: z.string().optional(),
  db: z.int().min(0).optional(),
  tls: z.boolean().optional(),
}) satisfies z.ZodType<RedisSentinelOptions>;

/** Redis Cluster: any reachable subset of the nodes; the client discovers the rest. */
const redisClusterSchema = z.strictObject({
  nodes: z.array(nodeAddress).min(1, "must name at least one node"),
  username: z.string().optional(),
  password: z.string().optional(),
  tls: z.boolean().optional(),
}) satisfies z.ZodType<RedisClusterOptions>;

/** Redis settings. Exactly one of url, sentinel, cluster. */
export const redisStoreConfigSchema = z.strictObject({
  url: z.string().min(1).optional().meta({ env: "MCP_PDP_REDIS_URL", description: "`redis://[user:pass@]host:port[/db]` or `rediss://…`." }),
  sentinel: redisSentinelSchema.optional().meta({ description: "Redis Sentinel." }),
  cluster: redisClusterSchema.optional().meta({ description: "Redis Cluster." }),
  keyPrefix: z
    .string()
    .min(1)
    .refine((p) => !/[{}]/.test(p), "must not contain braces (they would pin every key to one cluster slot)")
    .default("mcp-pdp:")
    .meta({ env: "MCP_PDP_REDIS_PREFIX", description: "Prefix of every key and channel." }),
  deadlineMs: z
    .int()
    .min(10)
    .max(60000)
    .default(250)
    .meta({ description: "Deadline of each store operation in ms; past it a decision is DENY STORE_UNAVAILABLE (extended once when the event loop, not the store, was late)." }),
  confirmReplicas: z
    .int()
    .min(0)
    .max(16)
    .default(0)
    .meta({ description: "Replicas that must confirm every write (Redis WAIT) before it counts, so that a failover cannot lose an ALLOW's history append or a revocation; 0: none." }),
});

/** Redis settings. */
export type RedisStoreConfig = z.output<typeof redisStoreConfigSchema>;

/** Where session, revocation and approval state lives. */
export const storeConfigSchema = z
  .strictObject({
    backend: z
      .enum(["memory", "redis"])
      .optional()
      .meta({ env: "MCP_PDP_STORE", description: "`memory`: this process only. `redis`: shared by every replica. Default redis when store.redis is set." }),
    redis: redisStoreConfigSchema.optional().meta({ description: "The Redis connection, for backend redis." }),
  })
  .superRefine((store, ctx) => {
    if ((store.backend ?? (store.redis ? "redis" : "memory")) === "memory") return;
    if ([store.redis?.url, store.redis?.sentinel, store.redis?.cluster].filter((t) => t !== undefined).length !== 1)
      ctx.addIssue({ code: "custom", path: ["redis"], message: "needs exactly one of url, sentinel, cluster" });
  })
  .transform((store): { backend: "memory" | "redis"; redis?: RedisStoreConfig } =>
    (store.backend ?? (store.redis ? "redis" : "memory")) === "memory" ? { backend: "memory" } : { backend: "redis", redis: store.redis! },
  );

/** Where session, revocation and approval state lives. */
export type StoreConfig = z.output<typeof storeConfigSchema>;
