import { Cluster, Redis } from "ioredis";
import type { ClusterOptions, RedisOptions } from "ioredis";
import { PdpError } from "../errors.js";

/** A client for the Redis stores: standalone/Sentinel (`Redis`) or `Cluster`. */
export type RedisClient = Redis | Cluster;

/** One Redis (or Sentinel) node address. */
export interface RedisNodeAddress {
  readonly host: string;
  readonly port: number;
}

/** Redis Sentinel: the client asks the sentinels where the master (or a replica) of `name` is. */
export interface RedisSentinelOptions {
  /** Sentinel addresses. */
  readonly sentinels: readonly RedisNodeAddress[];
  /** The monitored master's name. */
  readonly name: string;
  /** Connect to the master (default) or a replica; the stores write, so keep `master`. */
  readonly role?: "master" | "slave";
  /** ACL user and password for the Redis nodes. */
  readonly username?: string;
  readonly password?: string;
  /** ACL user and password for the sentinels themselves. */
  readonly sentinelUsername?: string;
  readonly sentinelPassword?: string;
  /** Database index. Default 0. */
  readonly db?: number;
  /** Use TLS to the nodes. */
  readonly tls?: boolean;
}

/** Redis Cluster: any reachable subset of the nodes; the client discovers the rest. */
export interface RedisClusterOptions {
  /** Startup nodes. */
  readonly nodes: readonly RedisNodeAddress[];
  /** ACL user and password for every node. */
  readonly username?: string;
  readonly password?: string;
  /** Use TLS to the nodes. */
  readonly tls?: boolean;
}

/** Options for {@link createRedisConnection}. Exactly one of `url`, `sentinel`, `cluster`. */
export interface RedisConnectionOptions {
  /** Standalone server: `redis://[user:pass@]host:port[/db]` or `rediss://…` for TLS. */
  readonly url?: string;
  /** Sentinel-managed deployment. */
  readonly sentinel?: RedisSentinelOptions;
  /** Cluster deployment. */
  readonly cluster?: RedisClusterOptions;
  /** Per-command deadline: a command without a reply by then fails. Default 500 ms. */
  readonly commandTimeoutMs?: number;
  /** Deadline for establishing a connection. Default 2000 ms. */
  readonly connectTimeoutMs?: number;
  /** Reconnection attempts a queued command may wait for before it fails. Default 1 (fail fast). */
  readonly maxRetriesPerRequest?: number;
  /** Longest pause between reconnection attempts (the client retries forever). Default 1000 ms. */
  readonly maxReconnectDelayMs?: number;
  /** Batch commands issued in the same tick into one write (and, on a cluster, one per node). Default true. */
  readonly autoPipelining?: boolean;
  /** `CLIENT SETNAME` value, to find the PDP's connections in `CLIENT LIST`. Default `mcp-pdp`. */
  readonly connectionName?: string;
  /** Do not connect until the first command or `connect()`. Default false. */
  readonly lazyConnect?: boolean;
  /** Told about connection errors (the client keeps reconnecting; commands meanwhile fail fast). Default: ignored. */
  readonly onError?: (err: Error) => void;
}

function positive(name: string, v: number | undefined, fallback: number): number {
  if (v === undefined) return fallback;
  if (!Number.isFinite(v) || v < 0) throw new PdpError("CONFIG_INVALID", `redis: ${name} must be a number ≥ 0`);
  return v;
}

/**
 * Builds an ioredis client for the Redis stores, tuned to fail fast and recover by itself: no
 * offline queue (a command while disconnected fails at once), a per-command timeout, few retries,
 * endless reconnection with a capped delay. The caller owns the client (`quit()`/`disconnect()`).
 */
export function createRedisConnection(options: RedisConnectionOptions): RedisClient {
  const modes = [options.url, options.sentinel, options.cluster].filter((m) => m !== undefined).length;
  if (modes !== 1) throw new PdpError("CONFIG_INVALID", "redis: give exactly one of url, sentinel, cluster");
  const commandTimeout = positive("commandTimeoutMs", options.commandTimeoutMs, 500);
  const connectTimeout = positive("connectTimeoutMs", options.connectTimeoutMs, 2000);
  const maxRetriesPerRequest = positive("maxRetriesPerRequest", options.maxRetriesPerRequest, 1);
  const maxDelay = positive("maxReconnectDelayMs", options.maxReconnectDelayMs, 1000);
  const retry = (times: number) => Math.min(50 * 2 ** Math.min(times, 10), maxDelay);
  const common = {
    commandTimeout,
    connectTimeout,
    maxRetriesPerRequest,
    connectionName: options.connectionName ?? "mcp-pdp",
    lazyConnect: options.lazyConnect ?? false,
  };
  const onError = options.onError ?? (() => {});
  let client: RedisClient;
  if (options.cluster) {
    const c = options.cluster;
    if (c.nodes.length === 0) throw new PdpError("CONFIG_INVALID", "redis: cluster needs at least one node");
    const clusterOptions: ClusterOptions = {
      enableOfflineQueue: false,
      enableAutoPipelining: options.autoPipelining ?? true,
      clusterRetryStrategy: retry,
      lazyConnect: common.lazyConnect,
      redisOptions: {
        ...common,
        ...(c.username === undefined ? {} : { username: c.username }),
        ...(c.password === undefined ? {} : { password: c.password }),
        ...(c.tls ? { tls: {} } : {}),
      },
    };
    client = new Cluster(
      c.nodes.map((n) => ({ host: n.host, port: n.port })),
      clusterOptions,
    );
  } else {
    const base: RedisOptions = {
      ...common,
      enableOfflineQueue: false,
      enableAutoPipelining: options.autoPipelining ?? true,
      retryStrategy: retry,
    };
    if (options.sentinel) {
      const s = options.sentinel;
      if (s.sentinels.length === 0 || !s.name) throw new PdpError("CONFIG_INVALID", "redis: sentinel needs sentinels and a master name");
      client = new Redis({
        ...base,
        sentinels: s.sentinels.map((n) => ({ host: n.host, port: n.port })),
        name: s.name,
        role: s.role ?? "master",
        sentinelRetryStrategy: retry,
        ...(s.username === undefined ? {} : { username: s.username }),
        ...(s.password === undefined ? {} : { password: s.password }),
        ...(s.sentinelUsername === undefined ? {} : { sentinelUsername: s.sentinelUsername }),
        ...(s.sentinelPassword === undefined ? {} : { sentinelPassword: s.sentinelPassword }),
        ...(s.db === undefined ? {} : { db: s.db }),
        ...(s.tls ? { tls: {}, enableTLSForSentinelMode: true } : {}),
      });
    } else {
      let url: URL;
      try {
        url = new URL(options.url!);
      } catch (err) {
        throw new PdpError("CONFIG_INVALID", "redis: url is not a URL", { cause: err });
      }
      if (url.protocol !== "redis:" && url.protocol !== "rediss:") throw new PdpError("CONFIG_INVALID", "redis: url must be redis:// or rediss://");
      client = new Redis(options.url!, base);
    }
  }
  client.on("error", onError);
  return client;
}
