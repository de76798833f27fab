/** The audit contracts: sinks, the reader (query, get, verify) and the log that fans out to sinks. */
import type { ChainedRecord, DecisionRecord } from "./decision-record.js";
import type { ChainVerification } from "./hash-chain.js";
import type { ScriptAttachment } from "../redis/script.js";

/**
 * Which records a query wants. Every field narrows (AND); an absent field does not filter.
 * Time bounds apply to the time the record was stored (at most one buffer flush after the
 * decision — milliseconds in practice), which is what keeps paging stable.
 */
export interface AuditFilter {
  /** Stored at or after this time. */
  readonly since?: Date;
  /** Stored at or before this time. */
  readonly until?: Date;
  readonly sessionId?: string;
  /** The user's subject (`sub`). */
  readonly userSubject?: string;
  /** The user's issuer; with `userSubject`, names one user exactly. */
  readonly userIssuer?: string;
  readonly agentId?: string;
  readonly clientId?: string;
  readonly serverId?: string;
  readonly tool?: string;
  readonly decision?: "ALLOW" | "DENY";
  /** Reason code name as records carry it, e.g. `POLICY_DENIED`. */
  readonly reasonCode?: string;
  /** A determining policy's `@id`. */
  readonly policyId?: string;
  /** Which RPC decided: `authorize`, `filter_tools`, … */
  readonly kind?: string;
  /** Only records where the shadow policy set disagreed with the live answer (`record.shadow`). */
  readonly shadowDisagrees?: boolean;
  /** Only decisions on a first-seen relation (records with `firstSeen`). */
  readonly firstSeen?: boolean;
}

/** Which page of a query. */
export interface PageRequest {
  /** Records per page, 1…1000. Default 100. */
  readonly limit?: number;
  /** The `nextCursor` of the previous page; absent for the first (newest) page. */
  readonly cursor?: string;
}

/** A record with where it is stored. */
export interface StoredRecord {
  /** Storage position: `<ms>-<sequence>` (a Redis stream entry id, or the same shape in memory). */
  readonly entryId: string;
  readonly record: ChainedRecord;
}

/** One page of a query, newest first. */
export interface AuditPage {
  readonly records: readonly StoredRecord[];
  /**
   * Present when older records may match: pass it back as `cursor`. A page can hold fewer than
   * `limit` records (even none) and still have a cursor, when the scan budget ran out first.
   */
  readonly nextCursor?: string;
}

/** Reads a stored audit. */
export interface AuditReader {
  /** Records matching `filter`, newest first, one page at a time; stable while new records arrive. */
  query(filter: AuditFilter, page?: PageRequest): Promise<AuditPage>;
  /** The record of one decision (the newest, should a decision id appear twice), or undefined. */
  get(decisionId: string): Promise<StoredRecord | undefined>;
  /** Checks the whole stored chain; reports the first modified, missing or reordered record. */
  verifyChain(): Promise<ChainVerification>;
}

/**
 * A write that must happen with a durable record or not at all (an ALLOW's history append): the
 * sink that carries it applies it in the same atomic step as the record, or refuses it — and then
 * stores `refused(reason)` in the record's place.
 */
export interface AttachedWrite {
  readonly attachment: ScriptAttachment;
  /** The record stored instead when the attachment is refused (by the refusal the sink's script answered). */
  readonly refused: (reason: string) => DecisionRecord;
}

/** A record to write, with what must be written with it. */
export interface SinkItem {
  readonly record: DecisionRecord;
  readonly attached?: AttachedWrite;
}

/** A destination for decision records. */
export interface AuditSink {
  /** A short name for stats and logs (`pino`, `redis`, `memory`). Unique within one log. */
  readonly name: string;
  /**
   * Stores a batch in order; resolves once stored as durably as this sink can, rejects when it
   * could not. May be called again with the same records after a rejection: the sink must not
   * store a record twice.
   */
  write(records: readonly DecisionRecord[]): Promise<void>;
  /** True when {@link writeAttached} can carry attachments. */
  readonly carriesAttachments?: boolean;
  /**
   * Like `write`, with attachments (sinks with `carriesAttachments`): each attachment is applied in
   * the same atomic step as its record, or refused — then nothing of that attempt is applied, the
   * item's `refused(reason)` record takes its place and the batch is written again. Resolves with
   * the refusal of each item (undefined: applied, or none attached).
   */
  writeAttached?(batch: readonly SinkItem[]): Promise<readonly (string | undefined)[]>;
  /** Query access to what this sink stored, when it can be queried. */
  readonly reader?: AuditReader;
  /** Chain appends retried because another writer moved the chain head (the Redis sink counts them). */
  readonly conflicts?: number;
  /** Releases what the sink holds (not the shared Redis client). */
  close(): Promise<void>;
}

/** Counters of one sink. */
export interface SinkStats {
  /** Records stored. */
  readonly written: number;
  /** Records refused because the sink's buffer was full, or lost at close. */
  readonly dropped: number;
  /** Failed write attempts (batches). */
  readonly failures: number;
  /** Records waiting in the buffer (including a batch in flight). */
  readonly buffered: number;
  /** Their estimated size in bytes (bounded by `bufferBytes`). */
  readonly bufferedBytes: number;
  /** False from a failed write until the next successful one. */
  readonly healthy: boolean;
  /** Whether `appendDurable` waits for this sink. */
  readonly required: boolean;
  /** Chain appends retried because another replica moved the chain head (Redis sink; 0 elsewhere). */
  readonly chainRetries: number;
  readonly lastError?: string;
  readonly lastErrorAt?: string;
}

/** Counters for health and metrics. */
export interface AuditStats {
  /** Records given to `append` / `appendDurable`. */
  readonly appended: number;
  /** `appendDurable` calls that rejected (AUDIT_UNAVAILABLE). */
  readonly durableFailures: number;
  /** Per sink, by name. */
  readonly sinks: Readonly<Record<string, SinkStats>>;
}

/**
 * The decision audit. Callers never check for null: a no-op implementation exists
 * ({@link import("./audit-log.js").noopAuditLog}).
 */
export interface AuditLog extends AuditReader {
  /** Queues a record for every sink. Never throws, never waits: overflow is counted and logged. */
  append(record: DecisionRecord): void;
  /**
   * Resolves once every required sink has stored the record (then queues it for the others);
   * rejects with PdpError `AUDIT_UNAVAILABLE` otherwise — the record is then stored nowhere, so the
   * caller can record the outcome it turns into (e.g. DENY AUDIT_UNAVAILABLE) with `append`.
   *
   * With `attached` (only when {@link carriesAttachments}): the record and the attachment are
   * written together by the one required sink, or neither is. Resolves with the attachment's
   * refusal when it was refused — the `attached.refused(reason)` record was then stored in the
   * record's place, durably, and goes to the other sinks — or undefined. A rejection means nothing
   * was applied (unless Redis applied it and the reply was lost: the doubt of any lost reply).
   */
  appendDurable(record: DecisionRecord, attached?: AttachedWrite): Promise<string | undefined>;
  /** True when `appendDurable` can carry an attachment: exactly one required sink, and it carries attachments. */
  readonly carriesAttachments: boolean;
  /** Waits until every buffer is written (or the deadline passes). For shutdown. */
  flush(timeoutMs?: number): Promise<void>;
  /** Counters for health and metrics. */
  stats(): AuditStats;
  /** Flushes, then closes the sinks. Appends after close are counted as dropped. */
  close(): Promise<void>;
}
