import { createHash } from "node:crypto";
import { PdpError } from "../errors.js";
import { checkKeyPrefix } from "../redis/keys.js";
import type { DecisionRecord } from "./decision-record.js";
import type { AuditFilter } from "./types.js";

/** The filter fields that have a Redis index, and the record field each reads. */
export const INDEXED_FIELDS = ["session", "user", "agent", "client", "server", "tool", "decision", "reason", "policy", "first-seen"] as const;

/** One indexed field. */
export type IndexedField = (typeof INDEXED_FIELDS)[number];

/**
 * The Redis key layout of the audit stream `<name>` under prefix `<p>`. Every key carries the hash
 * tag `{audit:<name>}`, so on a Cluster the stream, its head and its indexes share one slot and
 * the append script is single-slot.
 *
 * | key | type | TTL |
 * |---|---|---|
 * | `<p>{audit:<name>}:log` | stream: entry id `<ms>-<sequence>`, field `r` = canonical JSON record | trimmed: MAXLEN ~ and MINID ~ (retention) |
 * | `<p>{audit:<name>}:head` | hash: `seq`, `hash` (chain head), `ms` (last entry time), `floor` (oldest sequence kept) | none |
 * | `<p>{audit:<name>}:id:<decision id>` | string: entry id | retention |
 * | `<p>{audit:<name>}:ix:<field>:<value>` | sorted set: entry id scored by sequence | retention, renewed on write |
 */
export class RedisAuditKeys {
  readonly prefix: string;
  readonly name: string;
  readonly stream: string;
  readonly head: string;
  readonly #base: string;

  constructor(prefix: string, name: string) {
    checkKeyPrefix(prefix, "audit redis prefix");
    if (!/^[A-Za-z0-9._:-]{1,64}$/.test(name)) throw new PdpError("CONFIG_INVALID", "audit redis stream name: 1–64 of A-Z a-z 0-9 . _ : -");
    this.prefix = prefix;
    this.name = name;
    this.#base = `${prefix}{audit:${name}}`;
    this.stream = `${this.#base}:log`;
    this.head = `${this.#base}:head`;
  }

  /** The decision id → entry id key. */
  decision(decisionId: string): string {
    return `${this.#base}:id:${part(decisionId)}`;
  }

  /** The index of one field value. */
  index(field: IndexedField, value: string): string {
    return `${this.#base}:ix:${field}:${part(value)}`;
  }

  /** Every index key a record belongs to. */
  indexesOf(r: DecisionRecord): string[] {
    const out: string[] = [];
    const add = (field: IndexedField, v: string | undefined) => {
      if (v) out.push(this.index(field, v));
    };
    add("session", r.sessionId);
    add("user", r.userSubject);
    add("agent", r.agentId);
    add("client", r.clientId);
    add("server", r.serverId);
    add("tool", r.tool);
    add("decision", r.decision);
    add("reason", r.reasonCode);
    for (const p of new Set((r.reasons ?? []).map((x) => x.policyId))) add("policy", p);
    // One index of every decision on a first-seen relation (`audit query --first-seen`).
    if (r.firstSeen && r.firstSeen.length > 0) add("first-seen", "yes");
    return out;
  }

  /** The index keys a filter narrows to (each must hold a match). */
  indexesFor(f: AuditFilter): string[] {
    const out: string[] = [];
    const add = (field: IndexedField, v: string | undefined) => {
      if (v !== undefined) out.push(this.index(field, v));
    };
    add("session", f.sessionId);
    add("user", f.userSubject);
    add("agent", f.agentId);
    add("client", f.clientId);
    add("server", f.serverId);
    add("tool", f.tool);
    add("decision", f.decision);
    add("reason", f.reasonCode);
    add("policy", f.policyId);
    if (f.firstSeen) add("first-seen", "yes");
    return out;
  }
}

/** A value as a key part: itself when short and plain, else `#` and a digest (no unbounded keys). */
function part(v: string): string {
  return v.length <= 100 && /^[\x21-\x7e]*$/.test(v) && !v.startsWith("#") ? v : `#${createHash("sha256").update(v).digest("hex").slice(0, 32)}`;
}
