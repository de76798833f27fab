import { PdpError } from "../errors.js";
import type { ChainedRecord } from "./decision-record.js";
import type { AuditFilter, PageRequest } from "./types.js";

/** Default and largest page size. */
export const DEFAULT_PAGE_SIZE = 100;
export const MAX_PAGE_SIZE = 1000;

/** True when `record` passes every field of `filter` except the time bounds (the store checks those). */
export function matchesFilter(record: ChainedRecord, filter: AuditFilter): boolean {
  if (filter.sessionId !== undefined && record.sessionId !== filter.sessionId) return false;
  if (filter.userSubject !== undefined && record.userSubject !== filter.userSubject) return false;
  if (filter.userIssuer !== undefined && record.userIssuer !== filter.userIssuer) return false;
  if (filter.agentId !== undefined && record.agentId !== filter.agentId) return false;
  if (filter.clientId !== undefined && record.clientId !== filter.clientId) return false;
  if (filter.serverId !== undefined && record.serverId !== filter.serverId) return false;
  if (filter.tool !== undefined && record.tool !== filter.tool) return false;
  if (filter.decision !== undefined && record.decision !== filter.decision) return false;
  if (filter.reasonCode !== undefined && record.reasonCode !== filter.reasonCode) return false;
  if (filter.kind !== undefined && record.kind !== filter.kind) return false;
  if (filter.firstSeen && !(record.firstSeen && record.firstSeen.length > 0)) return false;
  if (filter.policyId !== undefined && !record.reasons?.some((r) => r.policyId === filter.policyId)) return false;
  if (filter.shadowDisagrees && record.shadow === undefined) return false;
  return true;
}

/** A position in a chain: page before this record (sequence, and its entry id). */
export interface Cursor {
  readonly sequence: number;
  readonly entryId: string;
}

/** Opaque cursor text. */
export function encodeCursor(c: Cursor): string {
  return Buffer.from(JSON.stringify({ s: c.sequence, e: c.entryId })).toString("base64url");
}

/** Parses a cursor; a cursor that is not ours is INVALID_REQUEST. */
export function decodeCursor(text: string): Cursor {
  try {
    const v = JSON.parse(Buffer.from(text, "base64url").toString("utf8")) as { s?: unknown; e?: unknown };
    if (typeof v.s === "number" && Number.isSafeInteger(v.s) && v.s > 0 && typeof v.e === "string" && /^\d+-\d+$/.test(v.e))
      return { sequence: v.s, entryId: v.e };
  } catch {
    // fall through
  }
  throw new PdpError("INVALID_REQUEST", "page cursor is not valid");
}

/** The page size asked for, checked. */
export function pageLimit(page: PageRequest | undefined): number {
  const limit = page?.limit ?? DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE)
    throw new PdpError("INVALID_REQUEST", `page size must be 1…${MAX_PAGE_SIZE}`);
  return limit;
}

/** The stream-style entry id of a record: `<stored ms>-<sequence>`. */
export function entryIdOf(ms: number, sequence: number): string {
  return `${ms}-${sequence}`;
}

/** The sequence part of an entry id. */
export function sequenceOfEntry(entryId: string): number {
  return Number(entryId.slice(entryId.indexOf("-") + 1));
}

/** The millisecond part of an entry id. */
export function msOfEntry(entryId: string): number {
  return Number(entryId.slice(0, entryId.indexOf("-")));
}
