import type { Cluster, Redis } from "ioredis";
import { PdpError } from "../errors.js";
import { validateRevocation, validateSubjects } from "./input-validation.js";
import { matchRevocation, revocationTargets } from "./match-revocation.js";
import type { RevocationTarget } from "./match-revocation.js";
import type { RedisClient } from "../redis/connection.js";
import { redisGuard } from "../redis/deadline.js";
import { RedisKeys } from "./redis-keys.js";
import { decodeRevocation } from "./redis-revocation-codec.js";
import { RedisScript, replicaConfirmation, type ReplicaConfirmation } from "../redis/script.js";
import type { RevocationEvent, RevocationInput, RevocationListener, RevocationRecord, RevocationStore, RevocationSubjects } from "./types.js";

/** How long connecting and subscribing the revocation channel may take (setup, not a decision). */
const SUBSCRIBE_DEADLINE_MS = 5_000;
/** How many subscriber connections are tried, each within SUBSCRIBE_DEADLINE_MS, before subscribe fails. */
const SUBSCRIBE_ATTEMPTS = 3;

/** Options for {@link RedisRevocationStore}. */
export interface RedisRevocationStoreOptions {
  /** The client (from `createRedisConnection`); owned by the caller, never closed by the store. */
  readonly client: RedisClient;
  /** Prefix of every key and of the channel (`<prefix>revocations`). Default `mcp-pdp:`. */
  readonly keyPrefix?: string;
  /** Deadline of each store operation; past it, STORE_UNAVAILABLE. Default 500 ms. */
  readonly deadlineMs?: number;
  /** Replicas that must confirm each write (`WAIT`) before it counts; 0 (default): none. */
  readonly confirmReplicas?: number;
}

/**
 * KEYS: record. ARGV: new record JSON, at, ttlMs, channel. Keeps whichever record has the later `at`,
 * and the longer remaining TTL; publishes the stored record. Atomic: stored ⇔ published.
 */
const REVOKE = new RedisScript(`
local cur = redis.call('GET', KEYS[1])
local rec = ARGV[1]
local ttl = tonumber(ARGV[3])
if cur then
  local ok, d = pcall(cjson.decode, cur)
  if ok and type(d) == 'table' and tonumber(d.at) and tonumber(d.at) >= tonumber(ARGV[2]) then rec = cur end
  local p = redis.call('PTTL', KEYS[1])
  if p > ttl then ttl = p end
end
redis.call('SET', KEYS[1], rec, 'PX', ttl)
redis.call('PUBLISH', ARGV[4], rec)
return rec`);

/**
 * Reads the revocation records of `targets` in one round trip: one MGET on a standalone server; on a
 * Cluster (keys in many slots) parallel GETs, which auto-pipelining sends as one batch per node.
 */
export async function readRevocations(client: RedisClient, keys: RedisKeys, targets: readonly RevocationTarget[]): Promise<Array<RevocationRecord | null>> {
  if (targets.length === 0) return [];
  const names = targets.map((t) => keys.revocation(t.kind, t.value));
  const raws = client.isCluster ? await Promise.all(names.map((n) => client.get(n))) : await client.mget(...names);
  return targets.map((t, i) => decodeRevocation(raws[i], t));
}

/**
 * {@link RevocationStore} in Redis. Records are strings with a Redis-held TTL; each revocation is
 * published on `<prefix>revocations` by the same script that stores it. Subscribers use a dedicated
 * connection (a duplicate of the client); after that connection comes back from an outage they
 * receive `resync`, because revocations published meanwhile were missed.
 */
export class RedisRevocationStore implements RevocationStore {
  readonly #client: RedisClient;
  readonly #keys: RedisKeys;
  readonly #deadline: number;
  readonly #listeners = new Set<RevocationListener>();
  #subscriber: Promise<Redis | Cluster> | undefined;
  #closed = false;
  readonly #confirm: ReplicaConfirmation | undefined;

  constructor(options: RedisRevocationStoreOptions) {
    this.#client = options.client;
    this.#keys = new RedisKeys(options.keyPrefix);
    this.#deadline = options.deadlineMs ?? 500;
    if (!(this.#deadline > 0)) throw new PdpError("CONFIG_INVALID", "invalid RedisRevocationStore options");
    this.#confirm = replicaConfirmation(options.confirmReplicas, this.#deadline);
  }

  async revoke(input: RevocationInput): Promise<RevocationRecord> {
    validateRevocation(input);
    const record: RevocationRecord = { kind: input.kind, value: input.value, at: input.at };
    const stored = await redisGuard("revoke", this.#deadline, () =>
      REVOKE.run(this.#client, [this.#keys.revocation(input.kind, input.value)], [JSON.stringify(record), input.at, input.ttlMs, this.#keys.channel], this.#confirm),
    );
    return decodeRevocation(String(stored), record) ?? record;
  }

  async check(subjects: RevocationSubjects): Promise<RevocationRecord | null> {
    validateSubjects(subjects);
    const targets = revocationTargets(subjects);
    const records = await redisGuard("revocation check", this.#deadline, () => readRevocations(this.#client, this.#keys, targets));
    return matchRevocation(targets, records, subjects);
  }

  async subscribe(listener: RevocationListener): Promise<() => Promise<void>> {
    if (this.#closed) throw new PdpError("STORE_UNAVAILABLE", "revocation store closed");
    const own: RevocationListener = (e) => listener(e);
    await this.#ensureSubscriber();
    this.#listeners.add(own);
    return async () => {
      this.#listeners.delete(own);
    };
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#listeners.clear();
    const sub = this.#subscriber;
    this.#subscriber = undefined;
    if (sub) (await sub.catch(() => undefined))?.disconnect();
  }

  #emit(event: RevocationEvent): void {
    for (const listener of [...this.#listeners]) {
      try {
        listener(event);
      } catch {
        // a listener must not stop the others
      }
    }
  }

  #ensureSubscriber(): Promise<Redis | Cluster> {
    if (!this.#subscriber) {
      const p = this.#startSubscriberWithRetry();
      this.#subscriber = p;
      p.catch(() => {
        if (this.#subscriber === p) this.#subscriber = undefined;
      });
    }
    return this.#subscriber;
  }

  /**
   * A subscriber connection that does not come up within its setup deadline is dropped and a fresh
   * one tried, up to {@link SUBSCRIBE_ATTEMPTS} times (seen on a Redis Cluster under load: now and
   * then the cluster client's subscriber connection never answers SUBSCRIBE; a new client does).
   */
  async #startSubscriberWithRetry(): Promise<Redis | Cluster> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await this.#startSubscriber();
      } catch (err) {
        if (this.#closed || attempt >= SUBSCRIBE_ATTEMPTS || !(err instanceof PdpError) || err.code !== "STORE_UNAVAILABLE") throw err;
      }
    }
  }

  async #startSubscriber(): Promise<Redis | Cluster> {
    const c = this.#client;
    const sub: Redis | Cluster = c.isCluster
      ? (c as Cluster).duplicate([], { lazyConnect: true })
      : (c as Redis).duplicate({ lazyConnect: true, connectionName: "mcp-pdp-revocations" });
    sub.on("error", () => {}); // reconnection is automatic; decisions fail closed meanwhile
    let readyOnce = false;
    sub.on("ready", () => {
      if (!readyOnce) {
        readyOnce = true;
        return;
      }
      // Back after an outage: ioredis re-subscribes (queued before this PING); once PING answers we
      // are subscribed again, and whatever was published meanwhile was missed — tell everyone.
      sub.ping().then(
        () => this.#emit({ type: "resync" }),
        () => this.#emit({ type: "resync" }),
      );
    });
    sub.on("message", (channel: string, message: string) => {
      if (channel !== this.#keys.channel) return;
      try {
        const r = JSON.parse(message) as RevocationRecord;
        if (["session", "agent", "user", "client", "jti"].includes(r.kind) && typeof r.value === "string" && typeof r.at === "number") {
          this.#emit({ type: "revoked", record: { kind: r.kind, value: r.value, at: r.at } });
          return;
        }
      } catch {
        // fall through
      }
      this.#emit({ type: "resync" }); // an unreadable message: drop everything (fail closed)
    });
    try {
      // Not a decision: a new connection (for Cluster, slot discovery and a connection per node)
      // needs several round trips, so it gets a setup deadline rather than the decision one.
      await redisGuard("revocation subscribe", Math.max(this.#deadline, SUBSCRIBE_DEADLINE_MS), async () => {
        await sub.connect();
        await sub.subscribe(this.#keys.channel);
      });
    } catch (err) {
      sub.disconnect();
      throw err;
    }
    if (this.#closed) {
      sub.disconnect();
      throw new PdpError("STORE_UNAVAILABLE", "revocation store closed");
    }
    return sub;
  }
}
