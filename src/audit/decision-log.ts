import { pino, type Logger } from "pino";
import { REDACTED_FIELDS } from "../log.js";
import type { DecisionRecord } from "./decision-record.js";

/** Where decision records go. Writing never throws and never waits for the sink. */
export interface DecisionLog {
  write(record: DecisionRecord): void;
  /** Flushes buffered records (shutdown). */
  flush(): Promise<void>;
}

/** A log that drops records: for tools that decide nothing worth keeping. */
export const noopDecisionLog: DecisionLog = { write() {}, flush: async () => {} };

/**
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
