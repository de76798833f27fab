import { noveltyMember } from "./novelty-member.js";
import type { NoveltyStore, NoveltyStoreOptions, ObserveResult, Sighting } from "./novelty-types.js";

/**
 * {@link NoveltyStore} in this process. A Map in order of last sighting (a sighting moves its
 * relation to the end), so expiry and eviction both take from the front: O(1) per relation.
 */
export class MemoryNoveltyStore implements NoveltyStore {
  /** Relation → first and last sighting, in order of last sighting. */
  readonly #seen = new Map<string, { readonly first: number; readonly last: number }>();
  readonly #windowMs: number;
  readonly #probationMs: number;
  readonly #max: number;
  readonly #now: () => number;
  #dropped = 0;

  constructor(options: NoveltyStoreOptions) {
    this.#windowMs = options.windowMs;
    this.#probationMs = options.probationMs ?? 0;
    this.#max = options.maxEntries;
    this.#now = options.now ?? Date.now;
  }

  async observe(sightings: readonly Sighting[]): Promise<ObserveResult> {
    const now = this.#now();
    for (const [m, at] of this.#seen) {
      if (at.last > now - this.#windowMs) break;
      this.#seen.delete(m);
    }
    const fresh = sightings.map((s) => {
      const m = noveltyMember(s);
      const at = this.#seen.get(m);
      this.#seen.delete(m);
      this.#seen.set(m, { first: at?.first ?? now, last: Math.max(at?.last ?? now, now) });
      return at === undefined || now - at.first < this.#probationMs;
    });
    let evicted = 0;
    for (const m of this.#seen.keys()) {
      if (this.#seen.size <= this.#max) break;
      this.#seen.delete(m);
      evicted++;
    }
    this.#dropped += evicted;
    return { fresh, evicted };
  }

  async dropped(): Promise<number> {
    return this.#dropped;
  }

  async close(): Promise<void> {
    this.#seen.clear();
  }
}
