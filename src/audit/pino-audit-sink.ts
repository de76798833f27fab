import { hostname } from "node:os";
import { pino, type DestinationStream } from "pino";
import { canonicalJson } from "./hash-chain.js";
import type { DecisionRecord } from "./decision-record.js";
import { LocalChain } from "./hash-chain.js";
import type { AuditSink } from "./types.js";

/** Options for {@link createPinoAuditSink}. */
export interface PinoAuditSinkOptions {
  /** `stdout`, `stderr`, or a file path (created with its directory, appended to). */
  readonly target: string;
  /** Name in stats and logs. Default `pino`. */
  readonly name?: string;
  /**
   * Hash-chain the lines of this process (`sequence`, `prevHash`, `hash`, `chain` =
   * `<host>:<pid>@<start time>`). Default true.
   */
  readonly chain?: boolean;
  /** Write here instead of `target` (tests). */
  readonly destination?: DestinationStream;
}

/**
 * Decision records as NDJSON lines on pino's destination (sonic-boom), on their own stream,
 * separate from the operational log. Each line is the record's canonical JSON exactly as it was
 * hashed for this process's chain (plus `hash`, and `msg: "decision"`, `stream: "decision"` for
 * log routers): one serialisation per record, no generic formatting or redaction pass — a record
 * has no field that could hold a token (see decision/record.ts). A write resolves once the lines
 * reached the file descriptor; a destination that reported an error fails every write after it
 * (counted by the log, never thrown at the caller).
 */
export function createPinoAuditSink(options: PinoAuditSinkOptions): AuditSink {
  const { target } = options;
  let error: Error | undefined;
  let dest: DestinationStream & { flush?: (cb?: (err?: Error) => void) => void; end?: () => void };
  /** Resolves once the destination's file is open (or failed to open). */
  let opened: Promise<void> = Promise.resolve();
  /** Resolves once our own file is closed after `end()` — every line on disk. */
  let closed: Promise<void> | undefined;
  if (options.destination) dest = options.destination;
  else {
    const boom = pino.destination({ dest: target === "stdout" ? 1 : target === "stderr" ? 2 : target, sync: false, mkdir: true });
    boom.on("error", (err: Error) => {
      error = err;
    });
    opened = new Promise((resolve) => {
      boom.once("ready", () => resolve());
      boom.once("error", () => resolve());
    });
    if (target !== "stdout" && target !== "stderr")
      closed = new Promise((resolve) => {
        boom.once("close", () => resolve());
        boom.once("error", () => resolve());
      });
    dest = boom;
  }
  const chain = options.chain === false ? undefined : new LocalChain(`${hostname()}:${process.pid}@${new Date().toISOString()}`);
  /** Records of a failed batch already handed to the destination: a retry does not write them twice. */
  let handed = new Set<DecisionRecord>();

  const flush = () =>
    new Promise<void>((resolve, reject) => {
      if (!dest.flush) return resolve();
      // SonicBoom refuses to flush before its file is open: wait for that, then flush, so a
      // write resolves only once its lines reached the file descriptor.
      void opened.then(() => {
        if (error) return reject(error);
        try {
          dest.flush!((err?: Error) => (err ? reject(err) : resolve()));
        } catch (err) {
          reject(err as Error);
        }
      });
    });

  return {
    name: options.name ?? "pino",
    async write(records) {
      if (error) throw error;
      for (const r of records) {
        if (handed.has(r)) continue;
        const json = chain ? chain.next(r).json : canonicalJson(r);
        dest.write(`${json.slice(0, -1)},"msg":"decision","stream":"decision"}\n`);
        handed.add(r);
      }
      await flush();
      if (error) throw error;
      handed = new Set();
    },
    async close() {
      try {
        await flush();
      } catch {
        // counted by the last write
      }
      if (closed) {
        dest.end?.();
        await closed; // close() resolves with every line written and the file closed
      }
    },
  };
}
