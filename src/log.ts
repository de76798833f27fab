import { pino, type Logger, type DestinationStream } from "pino";
import { PinoPretty } from "pino-pretty";

/**
 * Fields that could carry a credential. pino replaces them before a line is written, wherever
 * they appear (top level or one level down), so a token that reaches a log call by mistake is
 * still not logged.
 */
export const REDACTED_FIELDS: readonly string[] = [
  "token",
  "user_token",
  "userToken",
  "workload_token",
  "workloadToken",
  "approver_token",
  "approverToken",
  "authorization",
  "bearer",
  "*.token",
  "*.user_token",
  "*.userToken",
  "*.workload_token",
  "*.workloadToken",
  "*.approver_token",
  "*.approverToken",
  "*.authorization",
  "*.bearer",
];

/** Options for {@link createLogger}. */
export interface LoggerOptions {
  /**
   * Human-readable lines (pino-pretty) instead of JSON. Default: when the log goes to stderr and
   * stderr is a terminal — a person is reading; pipes, files and log collectors get JSON.
   */
  readonly pretty?: boolean;
}

/**
 * Creates the one root operational logger (tokens redacted): JSON lines on `destination`
 * (default stderr), or pino-pretty's readable lines on a terminal.
 */
export function createLogger(level: string, destination?: DestinationStream, options: LoggerOptions = {}): Logger {
  const config = { level, base: { service: "mcp-pdp" }, redact: { paths: [...REDACTED_FIELDS], censor: "[redacted]" } };
  const pretty = options.pretty ?? (destination === undefined && process.stderr.isTTY === true);
  if (pretty)
    return pino(
      config,
      PinoPretty({
        destination: destination ?? 2,
        sync: true,
        colorize: destination === undefined && process.stderr.hasColors?.() === true,
        translateTime: "SYS:HH:MM:ss.l",
        ignore: "pid,hostname,service",
      }),
    );
  return pino(config, destination ?? pino.destination(2));
}
