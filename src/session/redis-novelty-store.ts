import type { RedisClient } from "../redis/connection.js";
import { redisGuard } from "../redis/deadline.js";
import { DEFAULT_KEY_PREFIX, checkKeyPrefix } from "../redis/keys.js";
import { RedisScript } from "../redis/script.js";
import { noveltyMember } from "./novelty-member.js";
import type { NoveltyStore, NoveltyStoreOptions, ObserveResult, Sighting } from "./novelty-types.js";

/** Options for {@link RedisNoveltyStore}. */
export interface RedisNoveltyStoreOptions extends NoveltyStoreOptions {
  /** The shared client; never closed by the store. */
  readonly client: RedisClient;
  /** Same prefix as the other stores. Default `mcp-pdp:`. */
  readonly keyPrefix?: string;
  /** Deadline of each operation. Default 500 ms. */
  readonly deadlineMs?: number;
}

/**
 * KEYS: the relations (sorted set: member → last sighting ms), the dropped counter, the first
 * sightings (hash: member → ms; kept only with a probation).
 * ARGV: now, window ms, max entries, probation ms, members…  Returns { fresh flags, evicted }.
 * Expired relations go first (ZREMRANGEBYSCORE), then each member is checked and marked (ZADD GT:
 * a replica with a slower clock never moves a sighting back) — fresh when unseen, or first seen
 * less than the probation ago — then the set is cut to its bound from the oldest end (ZPOPMIN)
 * and the cut counted.
 */
const OBSERVE = new RedisScript(`
local now, window, max, probation = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
if probation > 0 then
  local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - window)
  for j = 1, #expired do redis.call('HDEL', KEYS[3], expired[j]) end
end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
local fresh = {}
for i = 5, #ARGV do
  local m = ARGV[i]
  local f = 0
  if not redis.call('ZSCORE', KEYS[1], m) then
    f = 1
    if probation > 0 then redis.call('HSET', KEYS[3], m, now) end
  elseif probation > 0 then
    local first = redis.call('HGET', KEYS[3], m)
    if first and now - tonumber(first) < probation then f = 1 end
  end
  fresh[#fresh + 1] = f
  redis.call('ZADD', KEYS[1], 'GT', now, m)
end
local evicted = 0
local n = redis.call('ZCARD', KEYS[1])
if n > max then
  evicted = n - max
  local popped = redis.call('ZPOPMIN', KEYS[1], evicted)
  if probation > 0 then
    for j = 1, #popped, 2 do redis.call('HDEL', KEYS[3], popped[j]) end
  end
  redis.call('INCRBY', KEYS[2], evicted)
end
redis.call('PEXPIRE', KEYS[1], window)
if probation > 0 then redis.call('PEXPIRE', KEYS[3], window) end
return { fresh, evicted }
`);

/**
 * {@link NoveltyStore} in Redis, shared by every replica: one sorted set `<p>{novelty}` (relation
 * → last sighting) a counter `<p>{novelty}:dropped` and, with a probation, a hash `<p>{novelty}:first` (relation →
 * first sighting), all under one hash tag so that the
 * check-and-mark script is single-slot (legal on a Cluster). Observing is one script call, so two
 * replicas sighting the same relation at once agree: exactly one of them finds it new.
 */
export class RedisNoveltyStore implements NoveltyStore {
  readonly #client: RedisClient;
  readonly #key: string;
  readonly #droppedKey: string;
  readonly #firstKey: string;
  readonly #probationMs: number;
  readonly #windowMs: number;
  readonly #max: number;
  readonly #now: () => number;
  readonly #deadline: number;

  constructor(options: RedisNoveltyStoreOptions) {
    const prefix = checkKeyPrefix(options.keyPrefix ?? DEFAULT_KEY_PREFIX, "redis key prefix");
    this.#client = options.client;
    this.#key = `${prefix}{novelty}`;
    this.#droppedKey = `${prefix}{novelty}:dropped`;
    this.#firstKey = `${prefix}{novelty}:first`;
    this.#probationMs = options.probationMs ?? 0;
    this.#windowMs = options.windowMs;
    this.#max = options.maxEntries;
    this.#now = options.now ?? Date.now;
    this.#deadline = options.deadlineMs ?? 500;
  }

  observe(sightings: readonly Sighting[]): Promise<ObserveResult> {
    return redisGuard("novelty observe", this.#deadline, async () => {
      const members = sightings.map(noveltyMember);
      const [flags, evicted] = (await OBSERVE.run(this.#client, [this.#key, this.#droppedKey, this.#firstKey], [this.#now(), this.#windowMs, this.#max, this.#probationMs, ...members])) as [number[], number];
      return { fresh: flags.map((f) => f === 1), evicted: Number(evicted) };
    });
  }

  dropped(): Promise<number> {
    return redisGuard("novelty dropped", this.#deadline, async () => Number((await this.#client.get(this.#droppedKey)) ?? 0));
  }

  async close(): Promise<void> {}
}
