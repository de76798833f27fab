import { PdpError } from "../errors.js";
import { approvalCallKey, approvalState, newApprovalId } from "./approval-call.js";
import type { ApprovalCall, ApprovalFilter, ApprovalRecord, ApprovalRequest, ApprovalStore } from "./approval-types.js";
import { matches } from "./memory-approval-store.js";
import type { RedisClient } from "../redis/connection.js";
import { redisGuard } from "../redis/deadline.js";
import { RedisKeys } from "./redis-keys.js";
import { RedisScript, replicaConfirmation, type ReplicaConfirmation } from "../redis/script.js";

/** Options for {@link RedisApprovalStore}. */
export interface RedisApprovalStoreOptions {
  /** The shared client; never closed by the store. */
  readonly client: RedisClient;
  /** Same prefix as the other stores. Default `mcp-pdp:`. */
  readonly keyPrefix?: string;
  /** Deadline of each operation. Default 500 ms. */
  readonly deadlineMs?: number;
  /** How long an approval stays readable after its expiry. Default 1 h. */
  readonly retentionMs?: number;
  readonly now?: () => number;
  /** Replicas that must confirm each write (`WAIT`) before it counts; 0 (default): none. */
  readonly confirmReplicas?: number;
}

const LIVE = `local function live(j, now)
  if not j then return false end
  local a = cjson.decode(j)
  return (a.state == 'pending' or a.state == 'approved') and tonumber(a.expiresAt) > now
end`;

/**
 * KEYS: call key, new record key, id index. ARGV: now, record JSON, id, pttl, record key prefix.
 * Returns the live approval for the call, or stores the new one — atomically (one slot: the session's).
 */
const REQUEST = new RedisScript(`${LIVE}
local now = tonumber(ARGV[1])
local cur = redis.call('GET', KEYS[1])
local prev = false
if cur then
  prev = redis.call('GET', ARGV[5] .. cur)
  if live(prev, now) then return {prev} end
end
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[4])
redis.call('SET', KEYS[1], ARGV[3], 'PX', ARGV[4])
return {ARGV[2], prev}`);

/** KEYS: call key. ARGV: now, record key prefix. Approved and unexpired → used (returned); else nil. */
const CONSUME = new RedisScript(`
local now = tonumber(ARGV[1])
local id = redis.call('GET', KEYS[1])
if not id then return false end
local k = ARGV[2] .. id
local j = redis.call('GET', k)
if not j then return false end
local a = cjson.decode(j)
if a.state ~= 'approved' or tonumber(a.expiresAt) <= now then return false end
a.state = 'used'
a.usedAt = now
local out = cjson.encode(a)
redis.call('SET', k, out, 'KEEPTTL')
return out`);

/** KEYS: record key. ARGV: now, verdict, decidedBy, comment. Pending and unexpired → decided; else an error reply. */
const DECIDE = new RedisScript(`
local now = tonumber(ARGV[1])
local j = redis.call('GET', KEYS[1])
if not j then return false end
local a = cjson.decode(j)
if a.state ~= 'pending' or tonumber(a.expiresAt) <= now then return {err = 'NOT_PENDING'} end
a.state = ARGV[2]
a.decidedBy = ARGV[3]
a.decidedAt = now
a.comment = ARGV[4]
local out = cjson.encode(a)
redis.call('SET', KEYS[1], out, 'KEEPTTL')
return out`);

/**
 * {@link ApprovalStore} in Redis. An approval lives in its session's slot
 * (`<p>{s:<session>}:ap:<id>`, and `<p>{s:<session>}:apc:<call key>` → the call's live id), so
 * request / consume / decide are single Lua scripts; `<p>ap:<id>` → session finds it by id, and
 * the sorted set `<p>approvals` lists ids by request time. Everything expires by itself.
 */
export class RedisApprovalStore implements ApprovalStore {
  readonly #client: RedisClient;
  readonly #keys: RedisKeys;
  readonly #deadline: number;
  readonly #retention: number;
  readonly #now: () => number;
  readonly #confirm: ReplicaConfirmation | undefined;

  constructor(options: RedisApprovalStoreOptions) {
    this.#client = options.client;
    this.#keys = new RedisKeys(options.keyPrefix);
    this.#deadline = options.deadlineMs ?? 500;
    this.#retention = options.retentionMs ?? 3_600_000;
    this.#now = options.now ?? Date.now;
    this.#confirm = replicaConfirmation(options.confirmReplicas, this.#deadline);
  }

  #slot(sessionId: string): string {
    return `${this.#keys.session(sessionId)}:ap:`;
  }

  #parse(json: unknown, now: number): ApprovalRecord {
    const a = JSON.parse(String(json)) as ApprovalRecord;
    return { ...a, state: approvalState(a, now) };
  }

  request(call: ApprovalCall, meta: { policyVersion: string; expiresAt: number }): Promise<ApprovalRequest> {
    return redisGuard("approval request", this.#deadline, async () => {
      const now = this.#now();
      const record: ApprovalRecord = { ...call, id: newApprovalId(), state: "pending", policyVersion: meta.policyVersion, requestedAt: now, expiresAt: meta.expiresAt };
      const pttl = Math.max(1, meta.expiresAt - now + this.#retention);
      const slot = this.#slot(call.sessionId);
      const callKey = `${this.#keys.session(call.sessionId)}:apc:${approvalCallKey(call)}`;
      const [out, prev] = (await REQUEST.run(this.#client, [callKey, slot + record.id], [now, JSON.stringify(record), record.id, pttl, slot], this.#confirm)) as [string, string | null];
      const stored = this.#parse(out, now);
      if (stored.id !== record.id) return { approval: stored };
      {
        const p = this.#keys.prefix;
        await Promise.all([
          this.#client.set(`${p}ap:${record.id}`, call.sessionId, "PX", pttl),
          this.#client.zadd(`${p}approvals`, now, record.id),
          this.#client.zremrangebyscore(`${p}approvals`, "-inf", now - 24 * 3_600_000),
        ]);
      }
      return { approval: stored, ...(prev && { previous: this.#parse(prev, now) }) };
    });
  }

  get(id: string): Promise<ApprovalRecord | undefined> {
    return redisGuard("approval get", this.#deadline, async () => {
      if (!/^[A-Za-z0-9_-]{1,64}$/.test(id)) return undefined;
      const session = await this.#client.get(`${this.#keys.prefix}ap:${id}`);
      if (!session) return undefined;
      const json = await this.#client.get(this.#slot(session) + id);
      return json ? this.#parse(json, this.#now()) : undefined;
    });
  }

  list(filter: ApprovalFilter, limit: number): Promise<ApprovalRecord[]> {
    return redisGuard("approval list", this.#deadline, async () => {
      const ids = await this.#client.zrevrange(`${this.#keys.prefix}approvals`, 0, 999);
      const out: ApprovalRecord[] = [];
      for (const id of ids) {
        if (out.length >= limit) break;
        const a = await this.get(id);
        if (a && matches(a, filter)) out.push(a);
      }
      return out;
    });
  }

  decide(id: string, verdict: "approved" | "rejected", decidedBy: string, comment: string): Promise<ApprovalRecord | undefined> {
    return redisGuard("approval decide", this.#deadline, async () => {
      const current = await this.get(id);
      if (!current) return undefined;
      try {
        const out = await DECIDE.run(this.#client, [this.#slot(current.sessionId) + id], [this.#now(), verdict, decidedBy, comment], this.#confirm);
        return out ? this.#parse(out, this.#now()) : undefined;
      } catch (err) {
        if (String((err as Error).message).includes("NOT_PENDING")) throw new PdpError("INVALID_REQUEST", `approval is ${current.state}, not pending`);
        throw err;
      }
    });
  }

  consume(call: ApprovalCall): Promise<ApprovalRecord | null> {
    return redisGuard("approval consume", this.#deadline, async () => {
      const now = this.#now();
      const callKey = `${this.#keys.session(call.sessionId)}:apc:${approvalCallKey(call)}`;
      const out = await CONSUME.run(this.#client, [callKey], [now, this.#slot(call.sessionId)], this.#confirm);
      return out ? this.#parse(out, now) : null;
    });
  }

  async close(): Promise<void> {}
}
