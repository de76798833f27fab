import { createHash } from "node:crypto";

/** The kinds of token the PDP verifies; part of every cache key. */
export type TokenKind = "user" | "workload" | "caller";

/**
 * The cache key for one verification: SHA-256 over kind, server URI and token (length-prefixed, so no
 * two different triples share an input), hex-encoded. The raw token is never a key, so a key that
 * reaches a log or a heap dump reveals nothing usable.
 */
export function tokenCacheKey(kind: TokenKind, serverUri: string, token: string): string {
  const hash = createHash("sha256");
  for (const part of [kind, serverUri, token]) hash.update(`${Buffer.byteLength(part)}:`).update(part);
  return hash.digest("hex");
}

interface Entry<T> {
  readonly value: T;
  readonly expiresAt: number;
}

/**
 * A bounded cache of verification results. An entry is served only while its token's `exp` is still
 * in the future by the caller's clock; when full, the oldest entry is evicted first. Size 0 disables it.
 */
export class TokenCache<T> {
  readonly #entries = new Map<string, Entry<T>>();
  readonly #maxEntries: number;

  /** @param maxEntries the most entries kept; 0 (or less) keeps none. */
  constructor(maxEntries: number) {
    this.#maxEntries = Math.max(0, Math.floor(maxEntries));
  }

  /** The value stored under `key` when its expiry (epoch seconds) is after `now`; an expired entry is removed. */
  get(key: string, now: number): T | undefined {
    const entry = this.#entries.get(key);
    if (entry === undefined) return undefined;
    if (entry.expiresAt > now) return entry.value;
    this.#entries.delete(key);
    return undefined;
  }

  /** Stores `value` until `expiresAt` (epoch seconds), evicting the oldest entries beyond the bound. */
  set(key: string, value: T, expiresAt: number): void {
    if (this.#maxEntries === 0) return;
    this.#entries.delete(key);
    this.#entries.set(key, { value, expiresAt });
    while (this.#entries.size > this.#maxEntries) {
      const oldest = this.#entries.keys().next();
      if (oldest.done === true) break;
      this.#entries.delete(oldest.value);
    }
  }

  /** Forgets every entry. */
  clear(): void {
    this.#entries.clear();
  }

  /** The number of entries held (expired ones included until they are looked up). */
  get size(): number {
    return this.#entries.size;
  }
}
