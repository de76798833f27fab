import type { Logger } from "pino";
import type { NoveltyConfig, StoreConfig } from "./config.js";
import { MemoryNoveltyStore } from "./memory-novelty-store.js";
import type { NoveltyStore } from "./novelty-types.js";
import { RedisNoveltyStore } from "./redis-novelty-store.js";
import type { ApprovalStore } from "./approval-types.js";
import { MemoryApprovalStore } from "./memory-approval-store.js";
import { MemoryDecisionStateReader } from "./memory-decision-state-reader.js";
import { RedisApprovalStore } from "./redis-approval-store.js";
import { MemoryRevocationStore } from "./memory-revocation-store.js";
import { MemorySessionStore } from "./memory-session-store.js";
import { createRedisConnection, type RedisClient } from "../redis/connection.js";
import { RedisDecisionStateReader } from "./redis-decision-state-reader.js";
import { RedisRevocationStore } from "./redis-revocation-store.js";
import { HISTORY_APPEND, RedisSessionStore } from "./redis-session-store.js";
import { MemoryToolDefinitionStore } from "./memory-tool-definition-store.js";
import { RedisToolDefinitionStore } from "./redis-tool-definition-store.js";
import type { ToolDefinitionStore } from "./tool-definition-types.js";
import type { CallFacts, DecisionStateReader, RevocationStore, SessionStore } from "./types.js";
import type { AttachedScript, ScriptAttachment } from "../redis/script.js";

/** The state one PDP process works with: sessions, revocations, and the one-round-trip reader over both. */
export interface StateStores {
  readonly backend: StoreConfig["backend"];
  readonly sessions: SessionStore;
  readonly revocations: RevocationStore;
  readonly reader: DecisionStateReader;
  readonly approvals: ApprovalStore;
  /** Tool definitions reported by servers (ReportTools), with their pins. */
  readonly definitions: ToolDefinitionStore;
  /** First-seen relations (third-party trust expansion); absent when novelty is off. */
  readonly novelty?: NoveltyStore;
  /** The Redis connection, shared with the audit stream and policy archive (Redis backend only). */
  readonly redis?: RedisClient;
  /**
   * The history append as an attachment of another script on {@link redis} (the durable audit
   * record's write, one round trip). Present only where such a script may touch a session's keys
   * and its effect counts once run: a standalone or Sentinel Redis (on a Cluster the session's keys
   * are in another slot) without `confirmReplicas` (a WAIT that failed after the script ran would
   * leave an ALLOW record stored for an answer turned DENY).
   */
  readonly carriedAppend?: CarriedAppend;
  /** False while the backing store is unreachable (health reports it). */
  healthy(): boolean;
  /** Called with the new value whenever `healthy()` changes. */
  onHealthChange(listener: (healthy: boolean) => void): void;
  /** Closes the stores and the connection. */
  close(): Promise<void>;
}

/** The client's own per-command timeout: a backstop well past the stores' deadline (4×, at least 2 s). */
export function clientBackstopMs(deadlineMs: number): number {
  return Math.max(2000, 4 * deadlineMs);
}

/** The session store's history append, carried by another script (see {@link StateStores.carriedAppend}). */
export interface CarriedAppend {
  /** The Lua the carrying script runs for it. */
  readonly script: AttachedScript;
  /** The attachment for one append (validated as `appendCall` validates). */
  attach(id: string, call: CallFacts): ScriptAttachment;
}

/** Builds the configured stores: in-memory for one process, or Redis for any number of replicas. */
export function createStateStores(config: StoreConfig, logger: Logger, novelty?: NoveltyConfig): StateStores {
  const listeners: ((healthy: boolean) => void)[] = [];
  const noveltyOptions = novelty?.enabled ? { windowMs: novelty.windowSeconds * 1000, maxEntries: novelty.maxEntries, probationMs: novelty.probationSeconds * 1000 } : undefined;
  if (config.backend === "memory" || !config.redis) {
    const sessions = new MemorySessionStore();
    const revocations = new MemoryRevocationStore();
    return {
      backend: "memory",
      sessions,
      revocations,
      reader: new MemoryDecisionStateReader(sessions, revocations),
      approvals: new MemoryApprovalStore(),
      definitions: new MemoryToolDefinitionStore(),
      ...(noveltyOptions && { novelty: new MemoryNoveltyStore(noveltyOptions) }),
      healthy: () => true,
      onHealthChange: (l) => void listeners.push(l),
      close: async () => {
        await sessions.close();
        await revocations.close();
      },
    };
  }
  const r = config.redis;
  let healthy = false;
  let lastError = 0;
  const setHealthy = (value: boolean) => {
    if (value === healthy) return;
    healthy = value;
    logger[value ? "info" : "error"]({ store: "redis" }, value ? "store reachable" : "store unreachable: decisions are DENY STORE_UNAVAILABLE");
    for (const l of listeners) l(value);
  };
  const client = createRedisConnection({
    ...(r.url !== undefined && { url: r.url }),
    ...(r.sentinel !== undefined && { sentinel: r.sentinel }),
    ...(r.cluster !== undefined && { cluster: r.cluster }),
    // The stores' deadline is redisGuard's (it tells a slow store from a busy event loop); the
    // client's own timeout is only a backstop for commands nobody guards, well past it.
    commandTimeoutMs: clientBackstopMs(r.deadlineMs),
    onError: (err) => {
      if (Date.now() - lastError > 5000) logger.warn({ err: err.message, store: "redis" }, "store connection error");
      lastError = Date.now();
    },
  });
  client.on("ready", () => setHealthy(true));
  client.on("close", () => setHealthy(false));
  const common = { client, keyPrefix: r.keyPrefix, deadlineMs: r.deadlineMs, confirmReplicas: r.confirmReplicas };
  const sessions = new RedisSessionStore(common);
  const revocations = new RedisRevocationStore(common);
  return {
    backend: "redis",
    sessions,
    revocations,
    reader: new RedisDecisionStateReader(common),
    approvals: new RedisApprovalStore(common),
    definitions: new RedisToolDefinitionStore(common),
    ...(noveltyOptions && { novelty: new RedisNoveltyStore({ ...common, ...noveltyOptions }) }),
    redis: client,
    ...(r.cluster === undefined &&
      r.confirmReplicas === 0 && { carriedAppend: { script: HISTORY_APPEND, attach: (id: string, call: CallFacts) => sessions.carryAppend(id, call) } }),
    healthy: () => healthy,
    onHealthChange: (l) => void listeners.push(l),
    close: async () => {
      await sessions.close();
      await revocations.close();
      client.disconnect();
    },
  };
}
