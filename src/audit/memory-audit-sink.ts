import { hostname } from "node:os";
import { PdpError } from "../errors.js";
import type { ChainedRecord, DecisionRecord } from "./decision-record.js";
import { LocalChain, verifyEntries, type ChainVerification } from "./hash-chain.js";
import { decodeCursor, encodeCursor, entryIdOf, matchesFilter, msOfEntry, pageLimit } from "./query-filter.js";
import type { AuditFilter, AuditPage, AuditReader, AuditSink, PageRequest, StoredRecord } from "./types.js";

/** Options for {@link MemoryAuditSink}. */
export interface MemoryAuditSinkOptions {
  /** Records kept; the oldest go first. Default 10000. */
  readonly capacity?: number;
  /** Name in stats and logs. Default `memory`. */
  readonly name?: string;
  /** The chain's name. Default `memory:<host>:<pid>`. */
  readonly chain?: string;
  /** Clock for the stored time (entry ids). Default `Date.now`. */
  readonly now?: () => number;
}

/**
 * The embedded default: a bounded ring of the newest records, hash-chained in this process, with
 * the same query semantics as the Redis stream (by scanning).
 */
export class MemoryAuditSink implements AuditSink, AuditReader {
  readonly name: string;
  readonly capacity: number;
  readonly reader: AuditReader = this;
  readonly #chain: LocalChain;
  readonly #now: () => number;
  #ring: (StoredRecord | undefined)[];
  /** Index of the next slot to write. */
  #next = 0;
  #size = 0;
  #lastMs = 0;
  /** Records pushed out of the ring by newer ones (legitimately gone: the chain's floor moves up). */
  #evicted = 0;

  constructor(options: MemoryAuditSinkOptions = {}) {
    this.capacity = options.capacity ?? 10_000;
    if (!Number.isInteger(this.capacity) || this.capacity < 1) throw new PdpError("CONFIG_INVALID", "audit memory capacity must be ≥ 1");
    this.name = options.name ?? "memory";
    this.#chain = new LocalChain(options.chain ?? `memory:${hostname()}:${process.pid}`);
    this.#now = options.now ?? Date.now;
    this.#ring = new Array(this.capacity);
  }

  /** Records currently held. */
  get size(): number {
    return this.#size;
  }

  async write(records: readonly DecisionRecord[]): Promise<void> {
    for (const r of records) {
      const { record } = this.#chain.next(r);
      this.#lastMs = Math.max(this.#lastMs, this.#now());
      this.#ring[this.#next] = { entryId: entryIdOf(this.#lastMs, record.sequence), record };
      this.#next = (this.#next + 1) % this.capacity;
      if (this.#size === this.capacity) this.#evicted++;
      this.#size = Math.min(this.#size + 1, this.capacity);
    }
  }

  /** Newest first. */
  *#newestFirst(): Generator<StoredRecord> {
    for (let i = 1; i <= this.#size; i++) yield this.#ring[(this.#next - i + this.capacity) % this.capacity]!;
  }

  async query(filter: AuditFilter, page?: PageRequest): Promise<AuditPage> {
    const limit = pageLimit(page);
    const before = page?.cursor ? decodeCursor(page.cursor).sequence : Infinity;
    const since = filter.since?.getTime() ?? -Infinity;
    const until = filter.until?.getTime() ?? Infinity;
    const out: StoredRecord[] = [];
    let more = false;
    for (const s of this.#newestFirst()) {
      if (s.record.sequence >= before) continue;
      const ms = msOfEntry(s.entryId);
      if (ms > until) continue;
      if (ms < since) break;
      if (!matchesFilter(s.record, filter)) continue;
      if (out.length === limit) {
        more = true;
        break;
      }
      out.push(s);
    }
    const last = out[out.length - 1];
    return { records: out, ...(more && last && { nextCursor: encodeCursor({ sequence: last.record.sequence, entryId: last.entryId }) }) };
  }

  async get(decisionId: string): Promise<StoredRecord | undefined> {
    for (const s of this.#newestFirst()) if (s.record.decisionId === decisionId) return s;
    return undefined;
  }

  async verifyChain(): Promise<ChainVerification> {
    const entries = [...this.#newestFirst()].reverse();
    return verifyEntries(entries, { head: this.#chain.head, floor: this.#evicted + 1 });
  }

  /**
   * For tests of tamper evidence: replaces the stored record at `sequence` (a stand-in for someone
   * editing the store).
   */
  tamper(sequence: number, edit: (r: ChainedRecord) => ChainedRecord | undefined): void {
    const entries = [...this.#newestFirst()].reverse();
    const kept = entries.flatMap((s) => {
      if (s.record.sequence !== sequence) return [s];
      const r = edit(s.record);
      return r ? [{ entryId: s.entryId, record: r }] : [];
    });
    this.#ring = new Array(this.capacity);
    kept.forEach((s, i) => (this.#ring[i] = s));
    this.#size = kept.length;
    this.#next = kept.length % this.capacity;
  }

  async close(): Promise<void> {}
}
