import { pino, type Logger, type DestinationStream } from "pino";

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

/** Creates the one root operational logger (JSON lines, tokens redacted). */
export function createLogger(level: string, destination?: DestinationStream): Logger {
  const options = { level, base: { service: "mcp-pdp" }, redact: { paths: [...REDACTED_FIELDS], censor: "[redacted]" } };
  return destination ? pino(options, destination) : pino(options, pino.destination(2));
}
