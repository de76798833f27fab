import { PdpError } from "../errors.js";
import { validateRevocation, validateSubjects } from "./input-validation.js";
import { matchRevocation, revocationTargets } from "./match-revocation.js";
import type { RevocationInput, RevocationKind, RevocationListener, RevocationRecord, RevocationStore, RevocationSubjects } from "./types.js";

/** Options for {@link MemoryRevocationStore}. */
export interface MemoryRevocationStoreOptions {
  /** Clock, ms since the epoch. Default `Date.now`. */
  readonly now?: () => number;
  /** Most records held at once; when full (after dropping expired ones) `revoke` fails STORE_UNAVAILABLE — a revocation is never dropped silently. Default 100 000. */
  readonly maxRecords?: number;
}

interface Held {
  readonly record: RevocationRecord;
  readonly expiresAt: number;
}

/**
 * In-memory {@link RevocationStore} for a single process. Records expire lazily by the injectable
 * clock; listeners are called synchronously inside `revoke`.
 */
export class MemoryRevocationStore implements RevocationStore {
  readonly #now: () => number;
  readonly #max: number;
  readonly #records = new Map<string, Held>();
  readonly #listeners = new Set<RevocationListener>();

  constructor(options: MemoryRevocationStoreOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#max = options.maxRecords ?? 100_000;
    if (!(this.#max >= 1)) throw new PdpError("CONFIG_INVALID", "invalid MemoryRevocationStore options");
  }

  async revoke(input: RevocationInput): Promise<RevocationRecord> {
    validateRevocation(input);
    const now = this.#now();
    const key = `${input.kind}\n${input.value}`;
    const old = this.peek(input.kind, input.value);
    if (!old && this.#records.size >= this.#max) {
      for (const [k, h] of [...this.#records]) if (now >= h.expiresAt) this.#records.delete(k);
      if (this.#records.size >= this.#max) throw new PdpError("STORE_UNAVAILABLE", "revocation store full");
    }
    const oldHeld = this.#records.get(key);
    const record: RevocationRecord = { kind: input.kind, value: input.value, at: Math.max(input.at, old?.at ?? -Infinity) };
    const expiresAt = Math.max(now + input.ttlMs, old && oldHeld ? oldHeld.expiresAt : -Infinity);
    this.#records.set(key, { record, expiresAt });
    for (const listener of [...this.#listeners]) {
      try {
        listener({ type: "revoked", record: { ...record } });
      } catch {
        // a listener must not break a revocation
      }
    }
    return { ...record };
  }

  async check(subjects: RevocationSubjects): Promise<RevocationRecord | null> {
    validateSubjects(subjects);
    const targets = revocationTargets(subjects);
    return matchRevocation(targets, targets.map((t) => this.peek(t.kind, t.value)), subjects);
  }

  async subscribe(listener: RevocationListener): Promise<() => Promise<void>> {
    const own = (e: Parameters<RevocationListener>[0]) => listener(e);
    this.#listeners.add(own);
    return async () => {
      this.#listeners.delete(own);
    };
  }

  /** The unexpired record for (kind, value), or undefined. Synchronous; used by the memory decision reader. */
  peek(kind: RevocationKind, value: string): RevocationRecord | undefined {
    const key = `${kind}\n${value}`;
    const held = this.#records.get(key);
    if (!held) return undefined;
    if (this.#now() < held.expiresAt) return { ...held.record };
    this.#records.delete(key);
    return undefined;
  }

  async close(): Promise<void> {
    this.#listeners.clear();
  }
}
