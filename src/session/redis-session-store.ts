import { PdpError } from "../errors.js";
import { validateCall, validateNewSession, validateSessionId, validateSubjectRef } from "./input-validation.js";
import type { RedisClient } from "../redis/connection.js";
import { redisGuard } from "../redis/deadline.js";
import { pipelineResults } from "../redis/pipeline-results.js";
import { RedisKeys } from "./redis-keys.js";
import { RedisScript, replicaConfirmation, type AttachedScript, type ReplicaConfirmation, type ScriptAttachment } from "../redis/script.js";
import { decodeSession, encodeSession } from "./redis-session-codec.js";
import { userRef } from "./user-ref.js";
import type {
  AppendCallOptions,
  AppendRefusal,
  AppendResult,
  CallFacts,
  EndResult,
  NewSession,
  SessionRecord,
  SessionStore,
  SubjectRef,
} from "./types.js";

/** Options for {@link RedisSessionStore}. */
export interface RedisSessionStoreOptions {
  /** The client (from `createRedisConnection`); owned by the caller, never closed by the store. */
  readonly client: RedisClient;
  /** Prefix of every key. Default `mcp-pdp:`. No braces. */
  readonly keyPrefix?: string;
  /** Deadline of each store operation (all its round trips); past it, STORE_UNAVAILABLE. Default 500 ms. */
  readonly deadlineMs?: number;
  /** Clock for expiry decisions (ms since the epoch). Default `Date.now`. Redis itself holds the TTLs. */
  readonly now?: () => number;
  /** How long a record is kept after `expiresAt` so that late calls read as expired/revoked, not unknown. Default 60 000; 0 drops it at expiry. */
  readonly expiredRetentionMs?: number;
  /** How many recent tool names a session keeps. Default 50. */
  readonly maxRecentTools?: number;
  /** Replicas that must confirm each write (`WAIT`) before it counts; 0 (default): none. */
  readonly confirmReplicas?: number;
}

/** KEYS: session, tools, labels. ARGV: pttl, then HSET field/value pairs. 1 = created, 0 = id in use. */
const CREATE = new RedisScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('HSET', KEYS[1], unpack(ARGV, 2))
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 1`);

/** KEYS: index. ARGV: now, expiresAt, id, retentionMs. Drops expired ids, adds this one, TTL = latest expiry. */
const INDEX = new RedisScript(`
local now = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[3])
local top = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
local ttl = math.floor(tonumber(top[2]) - now + tonumber(ARGV[4]))
if ttl < 1 then ttl = 1 end
redis.call('PEXPIRE', KEYS[1], ttl)
return 1`);

/**
 * The history append as two Lua functions, shared by this store's own APPEND script and by the
 * audit append script that carries an ALLOW's append with its durable record (one round trip).
 * K: session, tools, labels. A: now, maxCalls (-1: none), maxTools, tool, risk, labels….
 * `append_check` refuses on state, expiry and budget (counting the appends to the same session
 * earlier in the same script run, in `pending`); `append_apply` appends. The tools/labels keys get
 * the session's REMAINING TTL (PTTL), so nothing is ever extended.
 */
const APPEND_LUA = `
local function append_check(K, A, pending)
  local h = redis.call('HMGET', K[1], 'state', 'expiresAt', 'callCount')
  if not h[1] then return 'unknown' end
  if h[1] ~= 'active' then return h[1] end
  if tonumber(h[2]) <= tonumber(A[1]) then return 'expired' end
  local done = pending[K[1]] or 0
  local max = tonumber(A[2])
  if max >= 0 and tonumber(h[3]) + done >= max then return 'budget_exhausted' end
  if redis.call('PTTL', K[1]) < 1 then return 'unknown' end
  pending[K[1]] = done + 1
  return nil
end
local function append_apply(K, A)
  local pttl = redis.call('PTTL', K[1])
  local count = redis.call('HINCRBY', K[1], 'callCount', 1)
  local risk = redis.call('HINCRBYFLOAT', K[1], 'riskTotal', A[5])
  redis.call('RPUSH', K[2], A[4])
  redis.call('LTRIM', K[2], -tonumber(A[3]), -1)
  redis.call('PEXPIRE', K[2], pttl)
  if #A > 5 then
    redis.call('SADD', K[3], unpack(A, 6))
    redis.call('PEXPIRE', K[3], pttl)
  end
  return count, risk
end
`;

/** The history append, for a script that carries it (see {@link RedisSessionStore.carryAppend}). */
export const HISTORY_APPEND: AttachedScript = { lua: APPEND_LUA, check: "append_check", apply: "append_apply" };

/** KEYS: session, tools, labels. ARGV: as `A` above. Checks, then appends — atomically. */
const APPEND = new RedisScript(`${APPEND_LUA}
local refusal = append_check(KEYS, ARGV, {})
if refusal then return {refusal} end
local count, risk = append_apply(KEYS, ARGV)
return {'ok', count, risk, redis.call('LRANGE', KEYS[2], 0, -1), redis.call('SMEMBERS', KEYS[3])}`);

/** KEYS: session. ARGV: state, now. Never touches the TTL. */
const END = new RedisScript(`
local cur = redis.call('HGET', KEYS[1], 'state')
if not cur then return 'unknown' end
if cur == ARGV[1] or cur == 'revoked' then return 'unchanged' end
redis.call('HSET', KEYS[1], 'state', ARGV[1], 'endedAt', ARGV[2])
return 'changed'`);

/** Every refusal an append can answer. */
export const APPEND_REFUSALS: readonly AppendRefusal[] = ["unknown", "expired", "ended", "revoked", "budget_exhausted"];

/**
 * {@link SessionStore} in Redis, shared by every replica. TTLs are held by Redis (PEXPIRE), the
 * history append is one Lua script on the session's hash-tagged keys, and every operation is
 * deadline-bounded (STORE_UNAVAILABLE past it). See {@link RedisKeys} for the key layout.
 */
export class RedisSessionStore implements SessionStore {
  readonly #client: RedisClient;
  readonly #keys: RedisKeys;
  readonly #deadline: number;
  readonly #now: () => number;
  readonly #retention: number;
  readonly #maxTools: number;
  readonly #confirm: ReplicaConfirmation | undefined;

  constructor(options: RedisSessionStoreOptions) {
    this.#client = options.client;
    this.#keys = new RedisKeys(options.keyPrefix);
    this.#deadline = options.deadlineMs ?? 500;
    this.#now = options.now ?? Date.now;
    this.#retention = options.expiredRetentionMs ?? 60_000;
    this.#maxTools = options.maxRecentTools ?? 50;
    this.#confirm = replicaConfirmation(options.confirmReplicas, this.#deadline);
    if (!(this.#deadline > 0) || !(this.#retention >= 0) || !Number.isSafeInteger(this.#retention) || !(this.#maxTools >= 1)) {
      throw new PdpError("CONFIG_INVALID", "invalid RedisSessionStore options");
    }
  }

  async create(session: NewSession): Promise<void> {
    const now = this.#now();
    validateNewSession(session, now);
    const b = session.binding;
    const subjects: SubjectRef[] = [
      { kind: "agent", value: b.agentId },
      { kind: "user", value: userRef(b.userIssuer, b.userSubject) },
      { kind: "client", value: b.clientId },
    ];
    const id = session.id;
    const k = this.#keys;
    const created = await redisGuard("session create", this.#deadline, async () => {
      // Indexes first (each its own slot), then the session: a failure between leaves only a dangling index entry.
      await Promise.all(subjects.map((s) => INDEX.run(this.#client, [k.index(s)], [now, session.expiresAt, id, this.#retention])));
      const pttl = session.expiresAt + this.#retention - now;
      return CREATE.run(this.#client, [k.session(id), k.sessionTools(id), k.sessionLabels(id)], [pttl, ...encodeSession(session)], this.#confirm);
    });
    if (created !== 1) throw new PdpError("INVALID_REQUEST", "session id already in use");
  }

  async get(id: string): Promise<SessionRecord | undefined> {
    validateSessionId(id);
    const k = this.#keys;
    return redisGuard("session get", this.#deadline, async () => {
      const res = await this.#client.pipeline().hgetall(k.session(id)).lrange(k.sessionTools(id), 0, -1).smembers(k.sessionLabels(id)).exec();
      const [hash, tools, labels] = pipelineResults(res, 3);
      return decodeSession(id, hash as Record<string, string>, tools as string[], labels as string[]);
    });
  }

  async appendCall(id: string, call: CallFacts, options: AppendCallOptions = {}): Promise<AppendResult> {
    validateSessionId(id);
    validateCall(call, options.maxCalls);
    const a = this.#appendArgs(id, call, options);
    const reply = await redisGuard("session append", this.#deadline, () => APPEND.run(this.#client, a.keys, a.args(), this.#confirm));
    const r = reply as unknown[];
    if (r[0] === "ok") {
      return {
        ok: true,
        facts: { callCount: Number(r[1]), riskTotal: Number(r[2]), tools: r[3] as string[], labels: [...(r[4] as string[])].sort() },
      };
    }
    const reason = APPEND_REFUSALS.find((x) => x === r[0]);
    if (!reason) throw new PdpError("STORE_UNAVAILABLE", "unexpected append reply", { cause: new Error(String(r[0])) });
    return { ok: false, reason };
  }

  /**
   * The same append as {@link appendCall}, as an attachment for a script that carries it with its
   * own write (the durable audit record of the ALLOW: {@link HISTORY_APPEND}): checked and applied
   * in that script, refused with the same reasons. Only where the carrying script may touch this
   * store's keys — the same standalone or Sentinel Redis, no replica confirmation.
   */
  carryAppend(id: string, call: CallFacts, options: AppendCallOptions = {}): ScriptAttachment {
    validateSessionId(id);
    validateCall(call, options.maxCalls);
    return this.#appendArgs(id, call, options);
  }

  #appendArgs(id: string, call: CallFacts, options: AppendCallOptions): ScriptAttachment {
    const k = this.#keys;
    const rest = [options.maxCalls ?? -1, this.#maxTools, call.tool, String(call.risk), ...new Set(call.labels)];
    return { keys: [k.session(id), k.sessionTools(id), k.sessionLabels(id)], args: () => [this.#now(), ...rest] };
  }

  async end(id: string, state: "ended" | "revoked"): Promise<EndResult> {
    validateSessionId(id);
    if (state !== "ended" && state !== "revoked") throw new PdpError("INVALID_REQUEST", "state must be ended or revoked");
    const reply = await redisGuard("session end", this.#deadline, () => END.run(this.#client, [this.#keys.session(id)], [state, this.#now()], this.#confirm));
    if (reply !== "changed" && reply !== "unchanged" && reply !== "unknown") {
      throw new PdpError("STORE_UNAVAILABLE", "unexpected end reply", { cause: new Error(String(reply)) });
    }
    return reply;
  }

  async listBy(subject: SubjectRef): Promise<string[]> {
    validateSubjectRef(subject);
    const ids = await redisGuard("session list", this.#deadline, () =>
      this.#client.zrangebyscore(this.#keys.index(subject), `(${this.#now()}`, "+inf"),
    );
    return ids.sort();
  }

  async endBy(subject: SubjectRef, state: "ended" | "revoked"): Promise<number> {
    const ids = await this.listBy(subject);
    const results = await Promise.all(ids.map((id) => this.end(id, state)));
    return results.filter((r) => r === "changed").length;
  }

  async close(): Promise<void> {}
}
