import { PdpError } from "../errors.js";
import type { RedisClient } from "../redis/connection.js";
import { DEFAULT_KEY_PREFIX } from "../redis/keys.js";
import { RedisScript, type AttachedScript, type ScriptAttachment } from "../redis/script.js";
import type { ChainedRecord, DecisionRecord } from "./decision-record.js";
import { linkSerialised, verifyChain, type ChainHead, type ChainVerification, type LinkedRecord, type StoredEntry } from "./hash-chain.js";
import { decodeCursor, encodeCursor, matchesFilter, msOfEntry, pageLimit, sequenceOfEntry } from "./query-filter.js";
import { RedisAuditKeys } from "./redis-audit-keys.js";
import type { AttachedWrite, AuditFilter, AuditPage, AuditReader, AuditSink, PageRequest, SinkItem, StoredRecord } from "./types.js";

/** Options for {@link RedisAuditSink}. */
export interface RedisAuditSinkOptions {
  /** A connected client (shared; the sink does not close it). */
  readonly client: RedisClient;
  /** Key prefix. Default `mcp-pdp:`. */
  readonly keyPrefix?: string;
  /** The stream's name — also the chain's name. Every replica writing the same name shares one chain. Default `decisions`. */
  readonly stream?: string;
  /** Approximate upper bound on the stream's length (`XTRIM MAXLEN ~`); 0 for no length bound. Default 1,000,000. */
  readonly maxLen?: number;
  /** Records older than this are trimmed (`XTRIM MINID ~`), and indexes expire after it. Default 7 days. */
  readonly retentionMs?: number;
  /** Name in stats and logs. Default `redis`. */
  readonly name?: string;
  /** Append attempts when other replicas keep moving the chain head. Default 100. */
  readonly maxAttempts?: number;
  /** Candidate records one query page may examine before it returns a short page with a cursor. Default 10,000. */
  readonly scanBudget?: number;
  /**
   * The Lua of the writes this sink may carry with a record ({@link RedisAuditSink.writeAttached}):
   * given only when their keys live where this sink's script runs — the same standalone or Sentinel
   * Redis, never a Cluster (another slot). Default: none.
   */
  readonly attached?: AttachedScript;
}

const DAY_MS = 86_400_000;

/**
 * Appends a batch if the chain head is where the writer thinks it is. Refuses with `dup` when a
 * record of the batch is already stored (a retry after a lost reply), with `conflict` and the real
 * head when another writer moved it, and with `refused` (position, reason, …) when an attached
 * write's check refuses it — every attachment is checked before anything is written, so a refusal
 * leaves everything as it was. Entry ids are `<ms>-<sequence>` (ms = Redis TIME, never going
 * back), so ids, sequences and the chain all share one order. Trims by length and age, and records
 * the oldest sequence kept as `floor` (so a deleted oldest record is told from a trimmed one).
 *
 * KEYS: stream, head, n decision keys, the index keys, the attachments' keys. ARGV: expected seq,
 * expected hash, maxLen, retentionMs, n, index key count, then per record: seq, hash, json, index
 * count, index KEYS positions, attachment key count, its KEYS positions (none: 0 and nothing
 * more), its argument count, its arguments.
 */
function appendScript(attached: AttachedScript | undefined): RedisScript {
  const functions = attached
    ? `${attached.lua}\nlocal attached_check, attached_apply = ${attached.check}, ${attached.apply}\n`
    : "local attached_check, attached_apply\n";
  return new RedisScript(`${functions}
local n = tonumber(ARGV[5])
local lastIx = 2 + n + tonumber(ARGV[6])
local recs = {}
local dups = {}
local p = 7
for i = 1, n do
  local r = { seq = ARGV[p], hash = ARGV[p + 1], json = ARGV[p + 2], ix = {} }
  local ni = tonumber(ARGV[p + 3])
  for j = 1, ni do r.ix[j] = tonumber(ARGV[p + 3 + j]) end
  p = p + 4 + ni
  local nk = tonumber(ARGV[p])
  if nk > 0 then
    r.K = {}
    for j = 1, nk do r.K[j] = KEYS[tonumber(ARGV[p + j])] end
    p = p + 1 + nk
    local na = tonumber(ARGV[p])
    r.A = {}
    for j = 1, na do r.A[j] = ARGV[p + j] end
    p = p + 1 + na
  else
    p = p + 1
  end
  recs[i] = r
  if redis.call('EXISTS', KEYS[2 + i]) == 1 then dups[#dups + 1] = i end
end
if #dups > 0 then
  table.insert(dups, 1, 'dup')
  return dups
end
local head = redis.call('HMGET', KEYS[2], 'seq', 'hash', 'ms')
local seq = head[1] or '0'
local hash = head[2] or ''
if seq ~= ARGV[1] or hash ~= ARGV[2] then return { 'conflict', seq, hash } end
local refused = {}
local pending = {}
for i = 1, n do
  local r = recs[i]
  if r.K then
    local why = attached_check(r.K, r.A, pending)
    if why then
      refused[#refused + 1] = i
      refused[#refused + 1] = why
    end
  end
end
if #refused > 0 then
  table.insert(refused, 1, 'refused')
  return refused
end
local t = redis.call('TIME')
local ms = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lastMs = tonumber(head[3] or '0')
if ms < lastMs then ms = lastMs end
local msText = string.format('%.0f', ms)
local ttl = ARGV[4]
for i = 1, n do
  local r = recs[i]
  local id = msText .. '-' .. r.seq
  redis.call('XADD', KEYS[1], id, 'r', r.json)
  redis.call('SET', KEYS[2 + i], id, 'PX', ttl)
  for j = 1, #r.ix do
    local k = KEYS[r.ix[j]]
    redis.call('ZADD', k, r.seq, id)
    redis.call('PEXPIRE', k, ttl)
  end
  if r.K then attached_apply(r.K, r.A) end
end
redis.call('HSET', KEYS[2], 'seq', recs[n].seq, 'hash', recs[n].hash, 'ms', msText)
local trimmed = 0
if tonumber(ARGV[3]) > 0 then trimmed = trimmed + redis.call('XTRIM', KEYS[1], 'MAXLEN', '~', ARGV[3]) end
trimmed = trimmed + redis.call('XTRIM', KEYS[1], 'MINID', '~', string.format('%.0f', ms - tonumber(ttl)))
if trimmed > 0 then
  local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
  if first[1] then
    local fid = first[1][1]
    local floor = string.sub(fid, string.find(fid, '-', 1, true) + 1)
    redis.call('HSET', KEYS[2], 'floor', floor)
    for k = 3 + n, lastIx do redis.call('ZREMRANGEBYSCORE', KEYS[k], '-inf', '(' .. floor) end
  end
end
return { 'ok', msText }
`);
}

/** The script without attachments (shared by every sink that carries none). */
const PLAIN_APPEND = appendScript(undefined);

type StreamEntry = [id: string, fields: string[]];

function parseEntry([entryId, fields]: StreamEntry): StoredEntry {
  const i = fields.indexOf("r");
  let record: ChainedRecord | undefined;
  try {
    record = i >= 0 ? (JSON.parse(fields[i + 1]!) as ChainedRecord) : undefined;
  } catch {
    record = undefined;
  }
  return { entryId, record };
}

/** Runs a read; any failure but a PdpError becomes AUDIT_UNAVAILABLE. */
async function reading<T>(what: string, op: () => Promise<T>): Promise<T> {
  try {
    return await op();
  } catch (err) {
    if (err instanceof PdpError) throw err;
    throw new PdpError("AUDIT_UNAVAILABLE", `${what}: audit store unavailable`, { cause: err });
  }
}

/**
 * Decision records in a Redis Stream, hash-chained across every replica that writes the same
 * stream, with secondary indexes (sorted sets scored by sequence) for queries.
 *
 * Several replicas, one chain: each writer computes SHA-256 links client-side from the head it
 * last saw and appends with a compare-and-set script; when another writer moved the head, the
 * script answers with the real head and the writer relinks and retries (one extra round trip).
 */
export class RedisAuditSink implements AuditSink, AuditReader {
  readonly name: string;
  readonly keys: RedisAuditKeys;
  readonly reader: AuditReader = this;
  readonly maxLen: number;
  readonly retentionMs: number;
  readonly #client: RedisClient;
  readonly #maxAttempts: number;
  readonly #scanBudget: number;
  #head: ChainHead | undefined;
  /** Appends that had to relink because another writer moved the head. */
  conflicts = 0;
  /** True when built with `attached`: {@link writeAttached} carries those writes with records. */
  readonly carriesAttachments: boolean;
  readonly #script: RedisScript;

  constructor(options: RedisAuditSinkOptions) {
    this.#client = options.client;
    this.keys = new RedisAuditKeys(options.keyPrefix ?? DEFAULT_KEY_PREFIX, options.stream ?? "decisions");
    this.name = options.name ?? "redis";
    this.maxLen = options.maxLen ?? 1_000_000;
    this.retentionMs = options.retentionMs ?? 7 * DAY_MS;
    this.#maxAttempts = options.maxAttempts ?? 100;
    this.#scanBudget = options.scanBudget ?? 10_000;
    this.carriesAttachments = options.attached !== undefined;
    this.#script = options.attached ? appendScript(options.attached) : PLAIN_APPEND;
    if (!Number.isInteger(this.maxLen) || this.maxLen < 0) throw new PdpError("CONFIG_INVALID", "audit redis maxLen must be an integer ≥ 0");
    if (!Number.isInteger(this.retentionMs) || this.retentionMs < 1000) throw new PdpError("CONFIG_INVALID", "audit redis retentionMs must be ≥ 1000");
  }

  async #readHead(): Promise<{ head: ChainHead; floor: number }> {
    const [seq, hash, floor] = await this.#client.hmget(this.keys.head, "seq", "hash", "floor");
    return { head: { sequence: Number(seq ?? 0), hash: hash ?? "" }, floor: Number(floor ?? 1) };
  }

  async write(records: readonly DecisionRecord[]): Promise<void> {
    await this.writeAttached(records.map((record) => ({ record })));
  }

  async writeAttached(batch: readonly SinkItem[]): Promise<(string | undefined)[]> {
    if (!this.carriesAttachments && batch.some((i) => i.attached)) throw new Error("this audit sink carries no attached writes");
    const refusals: (string | undefined)[] = batch.map(() => undefined);
    let pending = batch.map((item, at): { at: number; record: DecisionRecord; attached: AttachedWrite | undefined } => ({ at, record: item.record, attached: item.attached }));
    for (let attempt = 0; attempt < this.#maxAttempts && pending.length > 0; attempt++) {
      const head = this.#head ?? (await this.#readHead()).head;
      const linked: LinkedRecord[] = [];
      let h = head;
      for (const p of pending) {
        const l = linkSerialised(p.record, h, this.keys.name);
        linked.push(l);
        h = { sequence: l.record.sequence, hash: l.record.hash };
      }
      const attachments = pending.map((p) => p.attached?.attachment);
      const reply = (await this.#script.run(this.#client, ...this.#scriptArgs(head, linked, attachments))) as (string | number)[];
      switch (reply[0]) {
        case "ok":
          this.#head = h;
          return refusals;
        case "conflict":
          this.conflicts++;
          this.#head = { sequence: Number(reply[1]), hash: String(reply[2]) };
          break;
        case "dup": {
          // Stored by an earlier attempt whose reply was lost: keep the rest, relink from the real head.
          const stored = new Set(reply.slice(1).map((i) => Number(i) - 1));
          pending = pending.filter((_, i) => !stored.has(i));
          this.#head = undefined;
          break;
        }
        case "refused":
          // Nothing was written: the refused records are replaced, the batch relinked from the same head.
          for (let j = 1; j + 1 < reply.length; j += 2) {
            const p = pending[Number(reply[j]) - 1];
            if (!p?.attached) throw new Error("audit append script refused a record without an attachment");
            const reason = String(reply[j + 1]);
            refusals[p.at] = reason;
            p.record = p.attached.refused(reason);
            p.attached = undefined;
          }
          this.#head = head;
          break;
        default:
          throw new Error(`audit append script answered ${String(reply[0])}`);
      }
    }
    if (pending.length > 0) throw new Error(`audit append: chain head kept moving (${this.#maxAttempts} attempts)`);
    return refusals;
  }

  #scriptArgs(head: ChainHead, linked: readonly LinkedRecord[], attachments: readonly (ScriptAttachment | undefined)[]): [string[], (string | number)[]] {
    const keys = [this.keys.stream, this.keys.head, ...linked.map((l) => this.keys.decision(l.record.decisionId))];
    const position = new Map<string, number>();
    const at = (k: string) => {
      let p = position.get(k);
      if (p === undefined) {
        keys.push(k);
        p = keys.length; // 1-based KEYS position
        position.set(k, p);
      }
      return p;
    };
    // Index keys first (the script trims them), the attachments' keys after.
    const ixs = linked.map((l) => this.keys.indexesOf(l.record).map(at));
    const args: (string | number)[] = [String(head.sequence), head.hash, this.maxLen, this.retentionMs, linked.length, keys.length - 2 - linked.length];
    linked.forEach(({ record: r, json }, i) => {
      const ix = ixs[i]!;
      args.push(String(r.sequence), r.hash, json, ix.length, ...ix);
      const a = attachments[i];
      if (!a) args.push(0);
      else {
        const kp = a.keys.map(at);
        const aa = a.args();
        args.push(kp.length, ...kp, aa.length, ...aa);
      }
    });
    return [keys, args];
  }

  async #entries(ids: readonly string[]): Promise<StoredEntry[]> {
    const replies = await Promise.all(ids.map((id) => this.#client.xrange(this.keys.stream, id, id) as Promise<StreamEntry[]>));
    return replies.flatMap((r) => (r[0] ? [parseEntry(r[0])] : []));
  }

  async query(filter: AuditFilter, page?: PageRequest): Promise<AuditPage> {
    const limit = pageLimit(page);
    const cursor = page?.cursor ? decodeCursor(page.cursor) : undefined;
    return reading("audit query", async () => {
      const indexes = this.keys.indexesFor(filter);
      return indexes.length > 0 ? this.#queryIndexed(filter, indexes, limit, cursor) : this.#queryScan(filter, limit, cursor);
    });
  }

  /** Sequence bounds of the filter's time range and cursor, or undefined when nothing can match. */
  async #bounds(filter: AuditFilter, cursor: { sequence: number } | undefined): Promise<{ lo: number; hi: number } | undefined> {
    const c = this.#client;
    const [{ head, floor }, first, last] = await Promise.all([
      this.#readHead(),
      filter.since ? (c.xrange(this.keys.stream, String(filter.since.getTime()), "+", "COUNT", 1) as Promise<StreamEntry[]>) : undefined,
      filter.until ? (c.xrevrange(this.keys.stream, String(filter.until.getTime()), "-", "COUNT", 1) as Promise<StreamEntry[]>) : undefined,
    ]);
    let lo = floor;
    let hi = head.sequence;
    if (cursor) hi = Math.min(hi, cursor.sequence - 1);
    if (first) {
      if (!first[0]) return undefined;
      lo = Math.max(lo, sequenceOfEntry(first[0][0]));
    }
    if (last) {
      if (!last[0]) return undefined;
      hi = Math.min(hi, sequenceOfEntry(last[0][0]));
    }
    return lo <= hi ? { lo, hi } : undefined;
  }

  /** Walks the smallest matching index from `hi` down, filtering the rest client-side. */
  async #queryIndexed(filter: AuditFilter, indexes: string[], limit: number, cursor: { sequence: number } | undefined): Promise<AuditPage> {
    const bounds = await this.#bounds(filter, cursor);
    if (!bounds) return { records: [] };
    const { lo } = bounds;
    let { hi } = bounds;
    const counts = await Promise.all(indexes.map((k) => this.#client.zcount(k, lo, hi)));
    let best = 0;
    counts.forEach((n, i) => {
      if (n < counts[best]!) best = i;
    });
    if (counts[best] === 0) return { records: [] };
    const driver = indexes[best]!;
    const out: StoredRecord[] = [];
    let scanned = 0;
    const chunk = Math.min(Math.max(limit + 1, 100), 1000);
    while (hi >= lo && scanned < this.#scanBudget) {
      const ids = await this.#client.zrevrangebyscore(driver, hi, lo, "LIMIT", 0, chunk);
      if (ids.length === 0) break;
      const entries = await this.#entries(ids);
      for (const e of entries) {
        scanned++;
        const r = e.record;
        if (r && matchesFilter(r, filter)) {
          if (out.length === limit) return { records: out, nextCursor: cursorAfter(out) };
          out.push({ entryId: e.entryId, record: r });
        }
      }
      hi = sequenceOfEntry(ids[ids.length - 1]!) - 1;
      if (ids.length < chunk) break;
    }
    if (hi >= lo && scanned >= this.#scanBudget) return { records: out, nextCursor: encodeCursor({ sequence: hi + 1, entryId: `0-${hi + 1}` }) };
    return { records: out };
  }

  /** Reads the stream newest first, filtering client-side (no indexed field in the filter). */
  async #queryScan(filter: AuditFilter, limit: number, cursor: { sequence: number; entryId: string } | undefined): Promise<AuditPage> {
    let end = cursor ? `(${cursor.entryId}` : filter.until ? String(filter.until.getTime()) : "+";
    const start = filter.since ? String(filter.since.getTime()) : "-";
    if (cursor && filter.until && msOfEntry(cursor.entryId) > filter.until.getTime()) end = String(filter.until.getTime());
    const out: StoredRecord[] = [];
    let scanned = 0;
    const chunk = Math.min(Math.max(limit + 1, 100), 1000);
    while (scanned < this.#scanBudget) {
      const batch = (await this.#client.xrevrange(this.keys.stream, end, start, "COUNT", chunk)) as StreamEntry[];
      for (const raw of batch) {
        scanned++;
        const e = parseEntry(raw);
        if (e.record && matchesFilter(e.record, filter)) {
          if (out.length === limit) return { records: out, nextCursor: cursorAfter(out) };
          out.push({ entryId: e.entryId, record: e.record });
        }
      }
      if (batch.length < chunk) return { records: out };
      const lastId = batch[batch.length - 1]![0];
      end = `(${lastId}`;
      if (scanned >= this.#scanBudget) return { records: out, nextCursor: encodeCursor({ sequence: sequenceOfEntry(lastId), entryId: lastId }) };
    }
    return { records: out };
  }

  async get(decisionId: string): Promise<StoredRecord | undefined> {
    return reading("audit get", async () => {
      const id = await this.#client.get(this.keys.decision(decisionId));
      if (!id) return undefined;
      const [e] = await this.#entries([id]);
      return e?.record ? { entryId: e.entryId, record: e.record } : undefined;
    });
  }

  async verifyChain(): Promise<ChainVerification> {
    return reading("audit verify", async () => {
      const { head, floor } = await this.#readHead();
      const client = this.#client;
      const stream = this.keys.stream;
      async function* batches(): AsyncGenerator<StoredEntry[]> {
        let start = "-";
        for (;;) {
          const batch = (await client.xrange(stream, start, "+", "COUNT", 1000)) as StreamEntry[];
          if (batch.length === 0) return;
          yield batch.map(parseEntry);
          start = `(${batch[batch.length - 1]![0]}`;
        }
      }
      return verifyChain(batches(), { head, floor });
    });
  }

  async close(): Promise<void> {}
}

function cursorAfter(out: readonly StoredRecord[]): string {
  const last = out[out.length - 1]!;
  return encodeCursor({ sequence: last.record.sequence, entryId: last.entryId });
}
