import { createHash } from "node:crypto";
import type { ChainedRecord, DecisionRecord } from "./decision-record.js";

/**
 * Canonical JSON: object keys sorted (by UTF-16 code unit, as `Array.prototype.sort` does),
 * `undefined` members left out, no whitespace. Two records with the same content serialise to the
 * same bytes whatever order their fields were built in.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== "object") {
    const s = JSON.stringify(value);
    return s === undefined ? "null" : s;
  }
  if (Array.isArray(value)) return `[${value.map((v) => (v === undefined ? "null" : canonicalJson(v))).join(",")}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(",")}}`;
}

/** SHA-256 (hex) of a record's canonical JSON without its `hash` field (`prevHash` and `sequence` included). */
export function recordHash(record: DecisionRecord): string {
  const { hash: _hash, ...rest } = record;
  return createHash("sha256").update(canonicalJson(rest)).digest("hex");
}

/** The head of a chain: the last record's sequence and hash (`0`, `""` before the first). */
export interface ChainHead {
  readonly sequence: number;
  readonly hash: string;
}

/** A record linked into a chain, with its canonical JSON (what a sink stores or writes as a line). */
export interface LinkedRecord {
  readonly record: ChainedRecord;
  /** The canonical JSON of `record`, `hash` included. */
  readonly json: string;
}

const CHAIN_FIELDS = new Set(["chain", "sequence", "prevHash", "hash"]);

/**
 * The canonical members (`"key":value`, sorted by key) of a record's own fields — serialised once
 * per record, however many sinks link it into their chains.
 */
const membersCache = new WeakMap<DecisionRecord, readonly (readonly [string, string])[]>();
function members(record: DecisionRecord): readonly (readonly [string, string])[] {
  let m = membersCache.get(record);
  if (m) return m;
  const obj = record as unknown as Record<string, unknown>;
  m = Object.keys(obj)
    .filter((k) => obj[k] !== undefined && !CHAIN_FIELDS.has(k))
    .sort()
    .map((k) => [k, `${JSON.stringify(k)}:${canonicalJson(obj[k])}`] as const);
  membersCache.set(record, m);
  return m;
}

/** Canonical JSON of `base` members plus `extra` members (each sorted), merged in key order. */
function mergeMembers(base: readonly (readonly [string, string])[], extra: readonly (readonly [string, string])[]): string {
  let out = "{";
  let i = 0;
  let j = 0;
  while (i < base.length || j < extra.length) {
    const takeExtra = j < extra.length && (i >= base.length || extra[j]![0] < base[i]![0]);
    out += (out.length > 1 ? "," : "") + (takeExtra ? extra[j++]![1] : base[i++]![1]);
  }
  return `${out}}`;
}

/**
 * Links `record` after `head`: the next sequence, the head's hash as `prevHash`, and its own hash —
 * the SHA-256 of exactly the canonical bytes returned (minus the `hash` member). The record's own
 * members are serialised once per record (cached), so several chains cost one serialisation and
 * one hash each.
 */
export function linkSerialised(record: DecisionRecord, head: ChainHead, chain: string): LinkedRecord {
  const sequence = head.sequence + 1;
  const base = members(record);
  const link: [string, string][] = [
    ["chain", `"chain":${JSON.stringify(chain)}`],
    ["prevHash", `"prevHash":${JSON.stringify(head.hash)}`],
    ["sequence", `"sequence":${sequence}`],
  ];
  const hash = createHash("sha256").update(mergeMembers(base, link)).digest("hex");
  const all = [...link, ["hash", `"hash":"${hash}"`] as [string, string]].sort((a, b) => (a[0] < b[0] ? -1 : 1));
  const { sequence: _s, prevHash: _p, hash: _h, chain: _c, ...own } = record;
  return { record: { ...own, chain, sequence, prevHash: head.hash, hash }, json: mergeMembers(base, all) };
}

/** Links `record` after `head` (see {@link linkSerialised}). */
export function linkRecord(record: DecisionRecord, head: ChainHead, chain: string): ChainedRecord {
  return linkSerialised(record, head, chain).record;
}

/**
 * A chain kept in this process (memory ring, pino file): hands out sequence numbers and hashes in
 * the order records are given.
 */
export class LocalChain {
  /** The chain's name, stored in each record's `chain`. */
  readonly name: string;
  #head: ChainHead = { sequence: 0, hash: "" };

  constructor(name: string) {
    this.name = name;
  }

  /** The last record's sequence and hash. */
  get head(): ChainHead {
    return this.#head;
  }

  /** Links the next record. */
  next(record: DecisionRecord): LinkedRecord {
    const linked = linkSerialised(record, this.#head, this.name);
    this.#head = { sequence: linked.record.sequence, hash: linked.record.hash };
    return linked;
  }
}

/** One stored record as a verifier reads it: where it is, and its raw or parsed content. */
export interface StoredEntry {
  /** Storage position, e.g. the stream entry id `<ms>-<sequence>`. */
  readonly entryId: string;
  /** The record, or `undefined` when the stored text did not parse. */
  readonly record: ChainedRecord | undefined;
}

/** The first problem a verification found. */
export interface ChainProblem {
  /** The sequence number where the chain first goes wrong (for a gap: the first missing one). */
  readonly sequence: number;
  /** The decision id of the record at fault (for a gap: the first record after it), when known. */
  readonly decisionId?: string;
  /** Where that record is stored, when known. */
  readonly entryId?: string;
  /** `modified`, `missing` or `reordered`, and what exactly was seen. */
  readonly kind: "modified" | "missing" | "reordered";
  readonly message: string;
}

/** The result of a chain verification. */
export interface ChainVerification {
  /** True when every record present links to the previous one and hashes to its `hash`. */
  readonly ok: boolean;
  /** Records read. */
  readonly checked: number;
  /** Sequence of the first and last records present (0 when empty). */
  readonly firstSequence: number;
  readonly lastSequence: number;
  /** The chain head's hash as the store records it (`""` when unknown or empty). */
  readonly headHash: string;
  readonly problem?: ChainProblem;
}

/** What a store knows about its chain besides the records themselves. */
export interface ChainAnchors {
  /** The sequence the oldest record present must have (records before it were trimmed by retention). */
  readonly floor?: number;
  /** The head as the store recorded it at its last append. */
  readonly head?: ChainHead;
}

/** How many records ahead the verifier looks for a record that is not where it should be. */
export const REORDER_WINDOW = 1000;

/**
 * Verifies a chain read in storage order, batch by batch. Reports the first modified (content
 * does not hash to `hash`, or `prevHash` does not match the previous record), missing (a gap in
 * the sequence, or fewer records than the head says) or reordered (a record found out of its
 * place, within {@link REORDER_WINDOW} records) record.
 */
export async function verifyChain(batches: AsyncIterable<readonly StoredEntry[]>, anchors: ChainAnchors = {}): Promise<ChainVerification> {
  const it = batches[Symbol.asyncIterator]();
  let buf: StoredEntry[] = [];
  let pos = 0;
  let done = false;
  const fill = async (): Promise<void> => {
    while (!done && buf.length - pos <= REORDER_WINDOW) {
      const next = await it.next();
      if (next.done) done = true;
      else {
        if (pos > 4 * REORDER_WINDOW) {
          buf = buf.slice(pos);
          pos = 0;
        }
        buf.push(...next.value);
      }
    }
  };

  let checked = 0;
  let expected: number | undefined = anchors.floor;
  let prev: string | undefined;
  let first = 0;
  let last = 0;
  let lastHash = "";
  const result = (problem?: ChainProblem): ChainVerification => ({
    ok: !problem,
    checked,
    firstSequence: first,
    lastSequence: last,
    headHash: anchors.head?.hash ?? lastHash,
    ...(problem && { problem }),
  });

  for (;;) {
    await fill();
    if (pos >= buf.length) break;
    const entry = buf[pos]!;
    const r = entry.record;
    checked++;
    const at = { entryId: entry.entryId, ...(r && { decisionId: r.decisionId }) };
    if (!r || typeof r.sequence !== "number" || typeof r.hash !== "string" || typeof r.prevHash !== "string") {
      return result({ sequence: expected ?? 0, ...at, kind: "modified", message: `entry ${entry.entryId} is not a chained record` });
    }
    expected ??= r.sequence;
    if (first === 0) first = r.sequence;
    if (prev === undefined && r.sequence === 1 && r.prevHash !== "") {
      return result({ sequence: 1, ...at, kind: "modified", message: "the first record's prevHash is not empty" });
    }
    if (r.sequence !== expected) {
      const want = expected;
      const later = buf.slice(pos + 1, pos + 1 + REORDER_WINDOW).find((e) => e.record?.sequence === want);
      if (later) {
        return result({
          sequence: want,
          entryId: later.entryId,
          decisionId: later.record!.decisionId,
          kind: "reordered",
          message: `record ${want} is out of order: found at entry ${later.entryId}, after record ${r.sequence} (entry ${entry.entryId})`,
        });
      }
      if (r.sequence > want) {
        const gap = r.sequence - 1 === want ? `record ${want} is` : `records ${want}…${r.sequence - 1} are`;
        return result({ sequence: want, ...at, kind: "missing", message: `${gap} missing (before entry ${entry.entryId}, record ${r.sequence})` });
      }
      return result({
        sequence: r.sequence,
        ...at,
        kind: "reordered",
        message: `record ${r.sequence} appears again or out of order at entry ${entry.entryId}, where record ${want} was expected`,
      });
    }
    if (prev !== undefined && r.prevHash !== prev) {
      return result({ sequence: r.sequence, ...at, kind: "modified", message: `record ${r.sequence}: prevHash does not match record ${r.sequence - 1}'s hash` });
    }
    if (recordHash(r) !== r.hash) {
      return result({ sequence: r.sequence, ...at, kind: "modified", message: `record ${r.sequence} was modified: its content does not hash to its hash` });
    }
    const idSeq = /-(\d+)$/.exec(entry.entryId)?.[1];
    if (idSeq !== undefined && Number(idSeq) !== r.sequence) {
      return result({ sequence: r.sequence, ...at, kind: "reordered", message: `record ${r.sequence} was moved to entry ${entry.entryId}` });
    }
    prev = r.hash;
    last = r.sequence;
    lastHash = r.hash;
    expected = r.sequence + 1;
    pos++;
  }

  const head = anchors.head;
  if (head && head.sequence > 0) {
    if (last < head.sequence) {
      const want = checked === 0 ? (anchors.floor ?? 1) : last + 1;
      return result({ sequence: want, kind: "missing", message: `records ${want}…${head.sequence} are missing: the chain head is at ${head.sequence}` });
    }
    if (last === head.sequence && lastHash !== head.hash) {
      return result({ sequence: last, kind: "modified", message: `record ${last} does not match the chain head's hash` });
    }
  }
  return result();
}

/** {@link verifyChain} over records already in memory (one batch). */
export function verifyEntries(entries: readonly StoredEntry[], anchors: ChainAnchors = {}): Promise<ChainVerification> {
  return verifyChain(
    (async function* () {
      yield entries;
    })(),
    anchors,
  );
}
