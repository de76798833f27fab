import assert from "node:assert/strict";
import { describe, test } from "node:test";
import type { Redis } from "ioredis";
import { createAuditLog } from "../../src/audit/audit-log.js";
import type { ChainedRecord } from "../../src/audit/decision-record.js";
import { canonicalJson, recordHash, verifyEntries } from "../../src/audit/hash-chain.js";
import { MemoryAuditSink } from "../../src/audit/memory-audit-sink.js";
import { RedisAuditSink } from "../../src/audit/redis-audit-sink.js";
import { deleteKeysUnder, testClient, uniquePrefix } from "../support/redis.js";
import { captureLogger, mixedRecords } from "./fixtures.js";

describe("hash chain: canonical form", () => {
  test("field order does not change the hash; any field change does; hash excludes itself", () => {
    const [r] = mixedRecords(1);
    const reordered = Object.fromEntries(Object.entries(r!).reverse()) as typeof r;
    assert.equal(canonicalJson(r), canonicalJson(reordered));
    assert.equal(recordHash(r!), recordHash(reordered!));
    assert.notEqual(recordHash(r!), recordHash({ ...r!, decision: "DENY" === r!.decision ? "ALLOW" : "DENY" }));
    assert.equal(recordHash({ ...r!, hash: "x" }), recordHash(r!));
    assert.notEqual(recordHash({ ...r!, prevHash: "a" }), recordHash({ ...r!, prevHash: "b" }));
  });
});

describe("hash chain: memory ring", () => {
  async function filled(n = 40): Promise<MemoryAuditSink> {
    const sink = new MemoryAuditSink({ capacity: 1000 });
    await sink.write(mixedRecords(n));
    return sink;
  }

  test("an untouched ring verifies; eviction by capacity is not tampering", async () => {
    const sink = await filled();
    const v = await sink.verifyChain();
    assert.equal(v.ok, true, v.problem?.message);
    assert.equal(v.checked, 40);
    const small = new MemoryAuditSink({ capacity: 10 });
    await small.write(mixedRecords(35));
    const w = await small.verifyChain();
    assert.equal(w.ok, true, w.problem?.message);
    assert.deepEqual([w.firstSequence, w.lastSequence], [26, 35]);
  });

  test("editing, deleting (middle, first, last) and reordering are each named", async () => {
    let sink = await filled();
    const target = (await sink.query({}, { limit: 1000 })).records.find((s) => s.record.sequence === 17)!.record;
    sink.tamper(17, (r) => ({ ...r, decision: r.decision === "ALLOW" ? "DENY" : "ALLOW" }));
    let v = await sink.verifyChain();
    assert.equal(v.ok, false);
    assert.deepEqual([v.problem!.kind, v.problem!.sequence, v.problem!.decisionId], ["modified", 17, target.decisionId]);

    // Re-hashing the edited record does not help: the next record's prevHash no longer matches.
    sink = await filled();
    sink.tamper(17, (r) => {
      const edited = { ...r, tool: "deploy-to-production" };
      return { ...edited, hash: recordHash(edited) };
    });
    v = await sink.verifyChain();
    assert.deepEqual([v.problem!.kind, v.problem!.sequence], ["modified", 18]);

    for (const [seq, want] of [
      [20, 20],
      [1, 1],
      [40, 40],
    ] as const) {
      sink = await filled();
      sink.tamper(seq, () => undefined);
      v = await sink.verifyChain();
      assert.equal(v.ok, false, `deleting ${seq}`);
      assert.deepEqual([v.problem!.kind, v.problem!.sequence], ["missing", want], v.problem!.message);
    }
  });

  test("verifyEntries: swapped records are reported as reordered", async () => {
    const sink = await filled(10);
    const all = (await sink.query({}, { limit: 100 })).records.slice().reverse();
    const swapped = [...all];
    [swapped[4], swapped[5]] = [swapped[5]!, swapped[4]!];
    const v = await verifyEntries(swapped.map((s) => ({ entryId: `x${s.record.sequence}`, record: s.record })));
    assert.equal(v.ok, false);
    assert.equal(v.problem!.kind, "reordered");
    assert.equal(v.problem!.sequence, 5);
  });
});

type Entry = [string, string[]];

/** Rewrites the whole stream (same entry ids) after `edit` — the only way to "edit" a stream in place. */
async function rewrite(client: Redis, stream: string, edit: (entries: Entry[]) => Entry[]): Promise<void> {
  const entries = (await client.xrange(stream, "-", "+")) as Entry[];
  const out = edit(entries.map(([id, f]) => [id, [...f]]));
  await client.del(stream);
  for (const [id, f] of out) await client.xadd(stream, id, ...f);
}

const recordOf = (e: Entry) => JSON.parse(e[1][1]!) as ChainedRecord;

describe("hash chain: redis stream", () => {
  async function setup(n = 50, options: { maxLen?: number } = {}) {
    const client = await testClient();
    const keyPrefix = uniquePrefix("audit-chain");
    const sink = new RedisAuditSink({ client, keyPrefix, ...options });
    for (let i = 0; i < n; i += 25) await sink.write(mixedRecords(Math.min(25, n - i), i));
    return {
      client,
      sink,
      stream: sink.keys.stream,
      close: async () => {
        await deleteKeysUnder(client, keyPrefix);
        await client.quit();
      },
    };
  }

  test("an untouched stream verifies", async () => {
    const fx = await setup();
    try {
      const v = await fx.sink.verifyChain();
      assert.equal(v.ok, true, v.problem?.message);
      assert.deepEqual([v.checked, v.firstSequence, v.lastSequence], [50, 1, 50]);
      assert.equal(await fx.client.xlen(fx.stream), 50);
    } finally {
      await fx.close();
    }
  });

  test("editing a record (decision DENY → ALLOW) is named", async () => {
    const fx = await setup();
    try {
      let victim: ChainedRecord | undefined;
      await rewrite(fx.client, fx.stream, (es) =>
        es.map((e) => {
          const r = recordOf(e);
          if (r.sequence !== 20) return e;
          victim = r;
          return [e[0], ["r", canonicalJson({ ...r, decision: r.decision === "DENY" ? "ALLOW" : "DENY" })]];
        }),
      );
      const v = await fx.sink.verifyChain();
      assert.equal(v.ok, false);
      assert.equal(v.problem!.kind, "modified");
      assert.equal(v.problem!.sequence, 20);
      assert.equal(v.problem!.decisionId, victim!.decisionId);
      assert.match(v.problem!.entryId!, /-20$/);
    } finally {
      await fx.close();
    }
  });

  test("deleting a record (middle, oldest, newest) is named", async () => {
    for (const seq of [30, 1, 50]) {
      const fx = await setup();
      try {
        const id = ((await fx.client.xrange(fx.stream, "-", "+")) as Entry[]).find((e) => recordOf(e).sequence === seq)![0];
        assert.equal(await fx.client.xdel(fx.stream, id), 1);
        const v = await fx.sink.verifyChain();
        assert.equal(v.ok, false, `deleting ${seq}`);
        assert.equal(v.problem!.kind, "missing");
        assert.equal(v.problem!.sequence, seq, v.problem!.message);
      } finally {
        await fx.close();
      }
    }
  });

  test("reordering two records is named", async () => {
    const fx = await setup();
    try {
      await rewrite(fx.client, fx.stream, (es) => {
        const i = es.findIndex((e) => recordOf(e).sequence === 10);
        const a = es[i]!;
        const b = es[i + 1]!;
        es[i] = [a[0], b[1]];
        es[i + 1] = [b[0], a[1]];
        return es;
      });
      const v = await fx.sink.verifyChain();
      assert.equal(v.ok, false);
      assert.equal(v.problem!.kind, "reordered");
      assert.equal(v.problem!.sequence, 10, v.problem!.message);
    } finally {
      await fx.close();
    }
  });

  test("trimming by length moves the floor: still verifies; then deleting the oldest kept record is caught", async () => {
    const fx = await setup(1200, { maxLen: 200 });
    try {
      const len = await fx.client.xlen(fx.stream);
      assert.ok(len < 1200 && len >= 200, `trimmed to about 200 (got ${len})`);
      const v = await fx.sink.verifyChain();
      assert.equal(v.ok, true, v.problem?.message);
      assert.equal(v.lastSequence, 1200);
      assert.equal(v.checked, len);
      const [oldest] = (await fx.client.xrange(fx.stream, "-", "+", "COUNT", 1)) as Entry[];
      await fx.client.xdel(fx.stream, oldest![0]);
      const w = await fx.sink.verifyChain();
      assert.equal(w.ok, false);
      assert.equal(w.problem!.kind, "missing");
      assert.equal(w.problem!.sequence, v.firstSequence);
      // Queries never reach below the floor, even from indexes that still list trimmed entries.
      const page = await fx.sink.query({ decision: "DENY" }, { limit: 1000 });
      assert.ok(page.records.every((s) => s.record.sequence > v.firstSequence));
    } finally {
      await fx.close();
    }
  });

  test("two replicas (two AuditLogs, two connections) on one stream yield one verifiable chain", async () => {
    const keyPrefix = uniquePrefix("audit-replicas");
    const c1 = await testClient();
    const c2 = await testClient();
    const s1 = new RedisAuditSink({ client: c1, keyPrefix });
    const s2 = new RedisAuditSink({ client: c2, keyPrefix });
    const { logger } = captureLogger();
    const l1 = createAuditLog({ sinks: [{ sink: s1 }], logger, batchSize: 16 });
    const l2 = createAuditLog({ sinks: [{ sink: s2 }], logger, batchSize: 16 });
    try {
      const a = mixedRecords(1500, 0);
      const b = mixedRecords(1500, 5000);
      for (let i = 0; i < 1500; i += 50) {
        for (const r of a.slice(i, i + 50)) l1.append(r);
        for (const r of b.slice(i, i + 50)) l2.append(r);
        await new Promise((r) => setImmediate(r));
      }
      await Promise.all([l1.flush(20_000), l2.flush(20_000)]);
      assert.equal(await c1.xlen(s1.keys.stream), 3000);
      const v = await s1.verifyChain();
      assert.equal(v.ok, true, v.problem?.message);
      assert.equal(v.checked, 3000);
      assert.ok(s1.conflicts + s2.conflicts > 0, "the writers did contend (the test exercises the retry)");
      assert.equal(l1.stats().sinks.redis!.written + l2.stats().sinks.redis!.written, 3000);
      const ids = new Set(((await c1.xrange(s1.keys.stream, "-", "+")) as Entry[]).map((e) => recordOf(e).decisionId));
      assert.equal(ids.size, 3000);
    } finally {
      await l1.close();
      await l2.close();
      await deleteKeysUnder(c1, keyPrefix);
      await c1.quit();
      await c2.quit();
    }
  });
});
