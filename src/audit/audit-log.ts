import type { Logger } from "pino";
import { PdpError } from "../errors.js";
import type { DecisionRecord } from "./decision-record.js";
import type { ChainVerification } from "./hash-chain.js";
import type { AttachedWrite, AuditLog, AuditReader, AuditSink, AuditStats, SinkStats } from "./types.js";

/** One sink of an {@link AuditLog}, with how the log treats it. */
export interface AuditSinkEntry {
  readonly sink: AuditSink;
  /** `appendDurable` waits for this sink. Default true. */
  readonly required?: boolean;
}

/** Options for {@link createAuditLog}. */
export interface AuditLogOptions {
  /** Where records go; several at once. Names must be unique. */
  readonly sinks: readonly AuditSinkEntry[];
  /** Operational logger: overflow and sink failures are logged here (rate-limited). */
  readonly logger: Logger;
  /** Records each sink may hold waiting to be written; beyond, new records are dropped (counted). Default 10000. */
  readonly bufferSize?: number;
  /**
   * Bytes (estimated: the record's text) each sink may hold waiting to be written; beyond, new
   * records are dropped (counted) — the bound that holds whatever the records' size. Default 32 MiB.
   */
  readonly bufferBytes?: number;
  /** Records per write. Default 256. */
  readonly batchSize?: number;
  /** How long `appendDurable` waits for the required sinks before it rejects. Default 2000 ms. */
  readonly durableTimeoutMs?: number;
  /** First pause after a failed write; doubles up to `maxRetryDelayMs`. Default 50 ms. */
  readonly retryDelayMs?: number;
  /** Longest pause between retries of a failed write. Default 5000 ms. */
  readonly maxRetryDelayMs?: number;
  /** At most one log line per sink and kind of trouble in this interval. Default 10000 ms. */
  readonly logIntervalMs?: number;
  /**
   * The sink queries read from (by name). Default: the first sink that can be queried
   * (list Redis before memory).
   */
  readonly readFrom?: string;
}

interface Waiter {
  /** Stored; with the attachment's refusal when it was refused (its replacement record stored instead). */
  resolve(refusal: string | undefined): void;
  reject(err: PdpError): void;
  /** Set when the caller stopped waiting: the record is not written any more (if not yet in flight). */
  cancelled: boolean;
}

interface Item {
  readonly record: DecisionRecord;
  /** Estimated size, for the byte bound. */
  readonly bytes: number;
  readonly waiter?: Waiter;
  /** Written with the record or not at all (only on a sink that carries attachments). */
  readonly attached?: AttachedWrite;
}

/** A cheap estimate of a record's serialised size: its strings plus a little per field. */
export function recordBytes(record: DecisionRecord): number {
  let n = 2;
  for (const key in record) {
    const v = (record as unknown as Record<string, unknown>)[key];
    if (v === undefined) continue;
    n += key.length + 4;
    if (typeof v === "string") n += v.length;
    else if (key === "reasons") for (const r of v as DecisionRecord["reasons"]) n += r.policyId.length + r.reason.length + 30;
    else n += 24;
  }
  return n;
}

class Lane {
  readonly sink: AuditSink;
  readonly required: boolean;
  queue: Item[] = [];
  /** Estimated bytes of `queue`. */
  queuedBytes = 0;
  running = false;
  /** A failed batch is waiting out its retry pause. */
  backingOff = false;
  written = 0;
  dropped = 0;
  failures = 0;
  healthy = true;
  lastError?: string;
  lastErrorAt?: string;
  wake?: () => void;

  constructor(sink: AuditSink, required: boolean) {
    this.sink = sink;
    this.required = required;
  }
}

const unavailable = (sink: string, why: string, cause?: unknown) =>
  new PdpError("AUDIT_UNAVAILABLE", `audit sink ${sink}: ${why}`, cause === undefined ? {} : { cause });

const emptyReader: AuditReader = {
  query: async () => {
    throw new PdpError("AUDIT_UNAVAILABLE", "no queryable audit sink is configured (add a redis or memory sink)");
  },
  get: async () => {
    throw new PdpError("AUDIT_UNAVAILABLE", "no queryable audit sink is configured (add a redis or memory sink)");
  },
  verifyChain: async () => {
    throw new PdpError("AUDIT_UNAVAILABLE", "no queryable audit sink is configured (add a redis or memory sink)");
  },
};

/** An audit log that stores nothing and reads nothing: for tools that decide nothing worth keeping. */
export const noopAuditLog: AuditLog = {
  append() {},
  appendDurable: async () => undefined,
  carriesAttachments: false,
  flush: async () => {},
  stats: () => ({ appended: 0, durableFailures: 0, sinks: {} }),
  close: async () => {},
  query: async () => ({ records: [] }),
  get: async () => undefined,
  verifyChain: async (): Promise<ChainVerification> => ({ ok: true, checked: 0, firstSequence: 0, lastSequence: 0, headHash: "" }),
};

/**
 * Builds the audit log: one bounded buffer per sink, drained off the response path in batches,
 * one batch in flight per sink. A failed batch is retried with backoff (sinks do not store a
 * record twice); while it waits, new records queue up to the bound and beyond it are dropped —
 * counted per sink, logged at most once per interval, visible in {@link AuditLog.stats}.
 */
export function createAuditLog(options: AuditLogOptions): AuditLog {
  const bufferSize = options.bufferSize ?? 10_000;
  const bufferBytes = options.bufferBytes ?? 32 * 1024 * 1024;
  const batchSize = options.batchSize ?? 256;
  const durableTimeoutMs = options.durableTimeoutMs ?? 2000;
  const retryDelayMs = options.retryDelayMs ?? 50;
  const maxRetryDelayMs = options.maxRetryDelayMs ?? 5000;
  const logIntervalMs = options.logIntervalMs ?? 10_000;
  const { logger } = options;

  const names = new Set<string>();
  const lanes = options.sinks.map((e) => {
    if (names.has(e.sink.name)) throw new PdpError("CONFIG_INVALID", `audit: two sinks are named ${e.sink.name}`);
    names.add(e.sink.name);
    return new Lane(e.sink, e.required ?? true);
  });
  const required = lanes.filter((l) => l.required);
  const optional = lanes.filter((l) => !l.required);
  const readerLane = options.readFrom
    ? lanes.find((l) => l.sink.name === options.readFrom)
    : lanes.find((l) => l.sink.reader !== undefined);
  if (options.readFrom && !readerLane?.sink.reader) throw new PdpError("CONFIG_INVALID", `audit: sink ${options.readFrom} cannot be queried`);
  const reader = readerLane?.sink.reader ?? emptyReader;
  const carriesAttachments = required.length === 1 && required[0]!.sink.carriesAttachments === true && required[0]!.sink.writeAttached !== undefined;

  let appended = 0;
  let durableFailures = 0;
  let closed = false;
  const idle = new Set<() => void>();

  // Rate-limited logging: one line per (sink, trouble) per interval, with how many were suppressed.
  const lastLogged = new Map<string, { at: number; suppressed: number }>();
  function report(lane: Lane, trouble: "overflow" | "failure" | "lost", fields: Record<string, unknown>): void {
    const key = `${lane.sink.name}:${trouble}`;
    const now = Date.now();
    const seen = lastLogged.get(key);
    if (seen && now - seen.at < logIntervalMs) {
      seen.suppressed++;
      return;
    }
    lastLogged.set(key, { at: now, suppressed: 0 });
    const counters = { sink: lane.sink.name, written: lane.written, dropped: lane.dropped, failures: lane.failures, buffered: lane.queue.length, bufferedBytes: lane.queuedBytes };
    const msg =
      trouble === "overflow"
        ? "audit buffer full: decision records dropped"
        : trouble === "lost"
          ? "audit records not written before close"
          : "audit sink write failed; retrying";
    logger.error({ ...counters, ...fields, suppressedSinceLast: seen?.suppressed ?? 0 }, msg);
  }

  function push(lane: Lane, item: Item): boolean {
    if (closed || lane.queue.length >= bufferSize || lane.queuedBytes + item.bytes > bufferBytes) {
      lane.dropped++;
      report(lane, "overflow", { bufferSize, bufferBytes, closed });
      return false;
    }
    lane.queue.push(item);
    lane.queuedBytes += item.bytes;
    if (!lane.running) void drain(lane);
    else lane.wake?.();
    return true;
  }

  async function drain(lane: Lane): Promise<void> {
    lane.running = true;
    let delay = retryDelayMs;
    try {
      while (lane.queue.length > 0) {
        // Skip records whose durable caller gave up before they were sent.
        while (lane.queue[0]?.waiter?.cancelled) lane.queuedBytes -= lane.queue.shift()!.bytes;
        const batch = lane.queue.slice(0, batchSize).filter((i) => !i.waiter?.cancelled);
        if (batch.length === 0) {
          for (const i of lane.queue.splice(0, Math.min(batchSize, lane.queue.length))) lane.queuedBytes -= i.bytes;
          continue;
        }
        try {
          const refusals = batch.some((i) => i.attached)
            ? await lane.sink.writeAttached!(batch.map((i) => (i.attached ? { record: i.record, attached: i.attached } : { record: i.record })))
            : await lane.sink.write(batch.map((i) => i.record));
          remove(lane, batch);
          lane.written += batch.length;
          lane.healthy = true;
          delay = retryDelayMs;
          batch.forEach((i, n) => i.waiter?.resolve(refusals?.[n]));
        } catch (err) {
          lane.failures++;
          lane.healthy = false;
          lane.lastError = String((err as Error)?.message ?? err).slice(0, 300);
          lane.lastErrorAt = new Date().toISOString();
          report(lane, "failure", { err, batch: batch.length });
          // Durable records are not retried: their callers get a rejection and record the outcome themselves.
          const durable = batch.filter((i) => i.waiter);
          if (durable.length) {
            remove(lane, durable);
            for (const i of durable) i.waiter!.reject(unavailable(lane.sink.name, "write failed", err));
          }
          if (closed) break;
          lane.backingOff = true;
          await new Promise<void>((resolve) => {
            const timer = setTimeout(resolve, delay);
            lane.wake = () => {
              // A durable record arriving during the pause is the probe: retry at once.
              if (lane.queue.some((i) => i.waiter && !i.waiter.cancelled)) {
                clearTimeout(timer);
                resolve();
              }
            };
          });
          lane.wake = undefined;
          lane.backingOff = false;
          delay = Math.min(delay * 2, maxRetryDelayMs);
        }
      }
    } finally {
      lane.running = false;
      if (lane.queue.length === 0) for (const f of [...idle]) f();
      else if (!closed) void drain(lane);
    }
  }

  function remove(lane: Lane, items: readonly Item[]): void {
    const gone = new Set(items);
    lane.queue = lane.queue.filter((i) => !gone.has(i));
    for (const i of items) lane.queuedBytes -= i.bytes;
  }

  const allIdle = () => lanes.every((l) => l.queue.length === 0 && !l.running);

  async function flush(timeoutMs = 5000): Promise<void> {
    if (allIdle()) return;
    await new Promise<void>((resolve) => {
      const check = () => {
        if (allIdle()) done();
      };
      const timer = setTimeout(() => done(), timeoutMs);
      const done = () => {
        clearTimeout(timer);
        idle.delete(check);
        resolve();
      };
      idle.add(check);
      for (const l of lanes) if (l.backingOff) l.wake?.();
    });
  }

  return {
    append(record) {
      appended++;
      const bytes = recordBytes(record);
      for (const lane of lanes) push(lane, { record, bytes });
    },

    async appendDurable(record, attached) {
      appended++;
      const bytes = recordBytes(record);
      if (attached && !carriesAttachments) throw new PdpError("AUDIT_UNAVAILABLE", "audit: no single required sink can carry this record's attached write");
      if (required.length === 0) {
        for (const lane of lanes) push(lane, { record, bytes });
        return undefined;
      }
      const waiters: Waiter[] = [];
      const stored = required.map(
        (lane) =>
          new Promise<string | undefined>((resolve, reject) => {
            if (!lane.healthy && lane.backingOff && lane.queue.some((i) => !i.waiter)) {
              // The sink is down and its backlog is already retrying: fail fast.
              reject(unavailable(lane.sink.name, `unavailable (${lane.lastError ?? "write failed"})`));
              return;
            }
            const waiter: Waiter = { resolve, reject, cancelled: false };
            waiters.push(waiter);
            if (!push(lane, { record, bytes, waiter, ...(attached && { attached }) })) reject(unavailable(lane.sink.name, closed ? "closed" : "buffer full"));
          }),
      );
      let timer: NodeJS.Timeout | undefined;
      const deadline = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new PdpError("AUDIT_UNAVAILABLE", `audit: no durable write within ${durableTimeoutMs} ms`)), durableTimeoutMs);
      });
      let refusal: string | undefined;
      try {
        [refusal] = await Promise.race([Promise.all(stored), deadline]);
      } catch (err) {
        for (const w of waiters) w.cancelled = true;
        durableFailures++;
        throw PdpError.from(err, "AUDIT_UNAVAILABLE");
      } finally {
        clearTimeout(timer);
        // Late settlements of the other sinks are not unhandled rejections.
        for (const p of stored) p.catch(() => {});
      }
      // The other sinks get what the required one stored: the replacement when the attachment was refused.
      const kept = refusal === undefined || !attached ? record : attached.refused(refusal);
      for (const lane of optional) push(lane, { record: kept, bytes });
      return refusal;
    },

    carriesAttachments,

    flush,

    stats(): AuditStats {
      const sinks: Record<string, SinkStats> = {};
      for (const l of lanes)
        sinks[l.sink.name] = {
          written: l.written,
          dropped: l.dropped,
          failures: l.failures,
          buffered: l.queue.length,
          bufferedBytes: l.queuedBytes,
          healthy: l.healthy,
          required: l.required,
          chainRetries: l.sink.conflicts ?? 0,
          ...(l.lastError !== undefined && { lastError: l.lastError, lastErrorAt: l.lastErrorAt }),
        };
      return { appended, durableFailures, sinks };
    },

    async close() {
      if (closed) return;
      await flush();
      closed = true;
      for (const l of lanes) {
        const left = l.queue.length;
        if (left > 0) {
          l.dropped += left;
          for (const i of l.queue) i.waiter?.reject(unavailable(l.sink.name, "closed"));
          l.queue = [];
          l.queuedBytes = 0;
          report(l, "lost", { lost: left });
        }
        l.wake?.();
      }
      await Promise.allSettled(lanes.map((l) => l.sink.close()));
    },

    query: (filter, page) => reader.query(filter, page),
    get: (decisionId) => reader.get(decisionId),
    verifyChain: () => reader.verifyChain(),
  };
}
