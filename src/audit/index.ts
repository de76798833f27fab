/** The decision audit: records, sinks (pino, Redis stream, memory ring), hash chain, query, policy archive. */
export { createAuditLog, noopAuditLog, type AuditLogOptions, type AuditSinkEntry } from "./audit-log.js";
export type { ChainedRecord, DecisionRecord } from "./decision-record.js";
export {
  canonicalJson,
  recordHash,
  verifyChain,
  verifyEntries,
  type ChainHead,
  type ChainProblem,
  type ChainVerification,
  type StoredEntry,
} from "./hash-chain.js";
export { MemoryAuditSink, type MemoryAuditSinkOptions } from "./memory-audit-sink.js";
export { createPinoAuditSink, type PinoAuditSinkOptions } from "./pino-audit-sink.js";
export {
  MemoryPolicyArchive,
  RedisPolicyArchive,
  explainRecord,
  type ArchivedPolicyFile,
  type Explanation,
  type PolicyArchive,
} from "./policy-archive.js";
export { RedisAuditSink, type RedisAuditSinkOptions } from "./redis-audit-sink.js";
export type { AuditFilter, AuditLog, AuditPage, AuditReader, AuditSink, AuditStats, PageRequest, SinkStats, StoredRecord } from "./types.js";
