/**
 * The behavioural contract of NoveltyStore, registered per implementation (novelty-stores.test.ts)
 * with a factory; `advance(ms)` moves a controllable clock (memory) or waits (Redis).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { NOVELTY_KINDS, type NoveltyKind, type NoveltyStore, type Sighting } from "../../src/session/novelty-types.js";

/** One store (and a second replica of it) for one test. */
export interface NoveltyHarness {
  readonly store: NoveltyStore;
  /** The store as a second replica sees it (Redis: another connection; memory: the same store). */
  readonly other: NoveltyStore;
  advance(ms: number): Promise<void>;
  close(): Promise<void>;
}

/** Builds a harness with this window and bound. */
export type NoveltyHarnessFactory = (options: { windowMs: number; maxEntries: number; probationMs?: number }) => Promise<NoveltyHarness>;

const KEYS: Record<NoveltyKind, readonly string[]> = {
  client_for_user: ["client-1", "https://idp#alice"],
  agent_at_server: ["spiffe://example.org/agent/a", "https://mcp.example/files"],
  client_at_server: ["client-1", "https://mcp.example/files"],
  idp_for_server: ["https://idp", "https://mcp.example/files"],
  new_scopes: ["https://idp#alice", "client-1", "files.write"],
  broker_path: ["spiffe://example.org/agent/a", "https://broker.example/mcp", "partner"],
};

const fresh = async (store: NoveltyStore, s: readonly Sighting[]) => (await store.observe(s)).fresh;

/** Registers the suite for one implementation. */
export function noveltyContract(name: string, factory: NoveltyHarnessFactory, window = 400): void {
  describe(`${name}: novelty store`, () => {
    for (const kind of NOVELTY_KINDS) {
      test(`${kind}: new on first sight, not on the second, new again after the window`, async () => {
        const h = await factory({ windowMs: window, maxEntries: 1000 });
        try {
          const s = { kind, key: KEYS[kind] };
          assert.deepEqual(await fresh(h.store, [s]), [true]);
          assert.deepEqual(await fresh(h.store, [s]), [false]);
          // the same values under another kind are another relation
          const otherKind = NOVELTY_KINDS.find((k) => k !== kind)!;
          assert.deepEqual(await fresh(h.store, [{ kind: otherKind, key: KEYS[kind] }]), [true]);
          await h.advance(window + 50);
          assert.deepEqual(await fresh(h.store, [s]), [true], "expired after the window");
        } finally {
          await h.close();
        }
      });

      test(`${kind}: two replicas agree`, async () => {
        const h = await factory({ windowMs: 60_000, maxEntries: 1000 });
        try {
          const s = { kind, key: KEYS[kind] };
          const [a, b] = await Promise.all([fresh(h.store, [s]), fresh(h.other, [s])]);
          assert.equal([a[0], b[0]].filter(Boolean).length, 1, "exactly one replica finds it new");
          assert.deepEqual(await fresh(h.other, [s]), [false]);
          assert.deepEqual(await fresh(h.store, [s]), [false]);
        } finally {
          await h.close();
        }
      });
    }

    test("a sighting within the window keeps the relation (the window counts from the last sighting)", async () => {
      const h = await factory({ windowMs: window, maxEntries: 1000 });
      try {
        const s = { kind: "client_for_user" as const, key: ["c", "u"] };
        await h.store.observe([s]);
        await h.advance(window / 2 + 20);
        assert.deepEqual(await fresh(h.store, [s]), [false]);
        await h.advance(window / 2 + 20);
        assert.deepEqual(await fresh(h.store, [s]), [false], "refreshed by the previous sighting");
      } finally {
        await h.close();
      }
    });

    test("with a probation: new on every sighting until the probation after the first has passed, on every replica", async () => {
      const h = await factory({ windowMs: 60_000, maxEntries: 1000, probationMs: window });
      try {
        const s = { kind: "client_for_user" as const, key: ["probation-client", "u"] };
        assert.deepEqual(await fresh(h.store, [s]), [true], "first sighting");
        assert.deepEqual(await fresh(h.other, [s]), [true], "still in probation (the other replica agrees)");
        assert.deepEqual(await fresh(h.store, [s]), [true], "still in probation");
        await h.advance(window + 50);
        assert.deepEqual(await fresh(h.store, [s]), [false], "known once the probation has passed");
        assert.deepEqual(await fresh(h.other, [s]), [false]);
      } finally {
        await h.close();
      }
    });

    test("a flood evicts first sightings with their relations (a probation never outlives its relation)", async () => {
      const h = await factory({ windowMs: 60_000, maxEntries: 10, probationMs: 60_000 });
      try {
        const many = Array.from({ length: 30 }, (_, i) => ({ kind: "agent_at_server" as const, key: [`a-${i}`, "s"] }));
        for (const s of many) {
          await h.store.observe([s]);
          await h.advance(1);
        }
        assert.equal(await h.store.dropped(), 20);
      } finally {
        await h.close();
      }
    });

    test("several sightings in one call: each judged, duplicates new once", async () => {
      const h = await factory({ windowMs: 60_000, maxEntries: 1000 });
      try {
        const a = { kind: "new_scopes" as const, key: ["u", "c", "a"] };
        const b = { kind: "new_scopes" as const, key: ["u", "c", "b"] };
        await h.store.observe([a]);
        assert.deepEqual(await fresh(h.store, [a, b, b]), [false, true, false]);
      } finally {
        await h.close();
      }
    });

    test("a flood of distinct clients is bounded: the oldest are evicted and counted", async () => {
      const max = 50;
      const h = await factory({ windowMs: 60_000, maxEntries: max });
      try {
        const keep = { kind: "client_for_user" as const, key: ["old-but-recent", "u"] };
        const first = { kind: "client_for_user" as const, key: ["first", "u"] };
        await h.store.observe([first]);
        await h.advance(5);
        let evicted = 0;
        for (let batch = 0; batch < 10; batch++) {
          const sightings = Array.from({ length: 20 }, (_, i) => ({ kind: "client_for_user" as const, key: [`flood-${batch}-${i}`, "u"] }));
          evicted += (await h.store.observe(sightings)).evicted;
          await h.advance(2);
        }
        await h.advance(5);
        assert.deepEqual(await fresh(h.store, [keep]), [true]);
        evicted += 1; // keep pushed one more out
        assert.equal(evicted, 1 + 200 + 1 - max, "every relation beyond the bound was evicted and counted");
        assert.equal(await h.store.dropped(), evicted);
        assert.equal(await h.other.dropped(), evicted, "the count is shared");
        assert.deepEqual(await fresh(h.store, [keep]), [false], "the newest sighting was kept");
        assert.deepEqual(await fresh(h.store, [{ kind: "client_for_user", key: ["flood-9-19", "u"] }]), [false], "recent ones are kept");
        assert.deepEqual(await fresh(h.store, [first]), [true], "the oldest was evicted: new again");
      } finally {
        await h.close();
      }
    });
  });
}
