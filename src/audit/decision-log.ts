import { pino, type Logger } from "pino";
import { REDACTED_FIELDS } from "../log.js";
import type { DecisionRecord } from "./decision-record.js";
import type { AuditLog } from "./types.js";

/**
 * Where decision records go. Writing never throws and never waits for the sink.
 *
 * @deprecated The decision pipeline's older, narrower view of {@link AuditLog}; wrap an audit log
 * with {@link asDecisionLog} until the pipeline takes an `AuditLog` directly.
 */
export interface DecisionLog {
  write(record: DecisionRecord): void;
  /** Flushes buffered records (shutdown). */
  flush(): Promise<void>;
}

/** A log that drops records: for tools that decide nothing worth keeping. */
export const noopDecisionLog: DecisionLog = { write() {}, flush: async () => {} };

/** An {@link AuditLog} seen as a {@link DecisionLog}: `write` is `append`, `flush` is `flush`. */
export function asDecisionLog(audit: AuditLog): DecisionLog {
  return { write: (record) => audit.append(record), flush: () => audit.flush() };
}

/**
 * @deprecated Use `createAuditLog({ sinks: [{ sink: createPinoAuditSink({ target }) }], logger })`:
 * the same lines, plus a hash chain, counters and a bounded buffer.
 *
 * Decision records as pino NDJSON lines (one per decision, `msg: "decision"`), on their own
 * stream: `stdout`, `stderr`, or a file path. Separate from the operational log.
 */
export function createPinoDecisionLog(target: string): DecisionLog {
  if (target === "off") return noopDecisionLog;
  const fd = target === "stdout" ? 1 : target === "stderr" ? 2 : target;
  const dest = pino.destination({ dest: fd, sync: false, mkdir: true });
  const log: Logger = pino(
    { base: undefined, timestamp: false, redact: { paths: [...REDACTED_FIELDS], censor: "[redacted]" } },
    dest,
  );
  return {
    write(record) {
      log.info({ ...record, stream: "decision" }, "decision");
    },
    flush: () =>
      new Promise((resolve) => {
        dest.flush((err) => {
          void err;
          resolve();
        });
      }),
  };
}
