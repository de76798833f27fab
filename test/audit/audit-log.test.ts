import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { after, before, describe, test } from "node:test";
import { createAuditLog, noopAuditLog } from "../../src/audit/audit-log.js";
import type { ChainedRecord, DecisionRecord } from "../../src/audit/decision-record.js";
import { canonicalJson, recordHash, verifyEntries } from "../../src/audit/hash-chain.js";
import { MemoryAuditSink } from "../../src/audit/memory-audit-sink.js";
import { createPinoAuditSink } from "../../src/audit/pino-audit-sink.js";
import { RedisAuditSink } from "../../src/audit/redis-audit-sink.js";
import type { AuditSink } from "../../src/audit/types.js";
import { toRecord, type RecordSubject } from "../../src/decision/record.js";
import { PdpError } from "../../src/errors.js";
import { PrivateRedis, deleteKeysUnder, testClient, uniquePrefix } from "../support/redis.js";
import { captureLogger, mixedRecord, mixedRecords, until } from "./fixtures.js";

const unhandled: unknown[] = [];
process.on("unhandledRejection", (e) => void unhandled.push(e));

/** A sink whose writes wait for `open()`, and can be made to fail. */
function gatedSink(name = "gated"): AuditSink & { stored: DecisionRecord[]; open(): void; failing: boolean } {
  let release: () => void = () => {};
  let gate = new Promise<void>((r) => (release = r));
  const sink = {
    name,
    stored: [] as DecisionRecord[],
    failing: false,
    open() {
      release();
      gate = Promise.resolve();
    },
    async write(records: readonly DecisionRecord[]) {
      await gate;
      if (sink.failing) throw new Error("sink down");
      sink.stored.push(...records);
    },
    async close() {},
  };
  return sink;
}

describe("audit log: exactly one stored record per appended record", () => {
  test("memory, redis and pino file sinks each hold every record exactly once after close (flush on close loses nothing)", async () => {
    const client = await testClient();
    const keyPrefix = uniquePrefix("audit-once");
    const dir = mkdtempSync(path.join(tmpdir(), "mcp-pdp-audit-"));
    const file = path.join(dir, "decisions.ndjson");
    const memory = new MemoryAuditSink({ capacity: 100_000 });
    const redis = new RedisAuditSink({ client, keyPrefix });
    const { logger } = captureLogger();
    const log = createAuditLog({
      sinks: [{ sink: redis }, { sink: memory }, { sink: createPinoAuditSink({ target: file }), required: false }],
      logger,
      bufferSize: 10_000,
      batchSize: 64,
      // Generous: this test proves nothing is lost or doubled, not how fast a busy machine writes.
      durableTimeoutMs: 60_000,
    });
    try {
      const records = mixedRecords(3000);
      const durable: Promise<unknown>[] = [];
      records.forEach((r, i) => {
        if (i % 10 === 0) durable.push(log.appendDurable(r));
        else log.append(r);
      });
      // No waiting: close must drain what is still buffered.
      await Promise.all(durable);
      await log.close();
      const want = records.map((r) => r.decisionId).sort();

      const stream = (await client.xrange(redis.keys.stream, "-", "+")) as [string, string[]][];
      const inRedis = stream.map(([, f]) => (JSON.parse(f[1]!) as ChainedRecord).decisionId);
      assert.equal(inRedis.length, 3000);
      assert.deepEqual([...inRedis].sort(), want);

      assert.equal(memory.size, 3000);
      const inMemory = (await memory.query({}, { limit: 1000 })).records.length;
      assert.equal(inMemory, 1000);

      const lines = readFileSync(file, "utf8").trim().split("\n").map((l) => JSON.parse(l) as ChainedRecord & { msg: string; level: number });
      assert.equal(lines.length, 3000);
      assert.deepEqual(lines.map((l) => l.decisionId).sort(), want);
      assert.ok(lines.every((l) => l.msg === "decision"));
      // The file's own chain verifies once the pino envelope fields are taken off.
      const chained = lines.map(({ msg: _m, level: _l, stream: _s, ...r }: any) => ({ entryId: `line-${r.sequence}`, record: r as ChainedRecord }));
      const v = await verifyEntries(chained);
      assert.equal(v.ok, true, v.problem?.message);

      const stats = log.stats();
      assert.equal(stats.appended, 3000);
      for (const name of ["redis", "memory", "pino"]) {
        assert.equal(stats.sinks[name]!.written, 3000, name);
        assert.equal(stats.sinks[name]!.dropped, 0, name);
        assert.equal(stats.sinks[name]!.buffered, 0, name);
      }
      assert.equal((await redis.verifyChain()).ok, true);
    } finally {
      await log.close();
      await deleteKeysUnder(client, keyPrefix);
      await client.quit();
    }
  });

  test("append never waits: it returns before any sink has written", async () => {
    const sink = gatedSink();
    const { logger } = captureLogger();
    const log = createAuditLog({ sinks: [{ sink }], logger });
    for (const r of mixedRecords(100)) log.append(r);
    assert.equal(sink.stored.length, 0);
    assert.equal(log.stats().sinks.gated!.buffered, 100);
    sink.open();
    await log.flush();
    assert.equal(sink.stored.length, 100);
    await log.close();
  });

  test("the no-op log accepts everything and stores nothing", async () => {
    noopAuditLog.append(mixedRecord(1));
    await noopAuditLog.appendDurable(mixedRecord(2));
    assert.deepEqual((await noopAuditLog.query({})).records, []);
    assert.equal((await noopAuditLog.verifyChain()).ok, true);
  });
});

describe("audit log: overflow and failures are counted, logged, never silent", () => {
  test("a full buffer drops new records, counts them, logs once per interval", async () => {
    const sink = gatedSink();
    const { logger, lines } = captureLogger();
    const log = createAuditLog({ sinks: [{ sink }], logger, bufferSize: 10 });
    for (const r of mixedRecords(100)) log.append(r);
    const s = log.stats().sinks.gated!;
    assert.equal(s.dropped, 90);
    assert.equal(s.buffered, 10);
    const overflowLines = lines.filter((l) => l.includes("audit buffer full"));
    assert.equal(overflowLines.length, 1, "rate-limited to one line");
    assert.match(overflowLines[0]!, /"dropped":1\b/);
    sink.open();
    await log.flush();
    assert.equal(sink.stored.length, 10);
    assert.equal(log.stats().sinks.gated!.written, 10);
    await log.close();
  });

  test("the buffer is bounded in bytes too: large records are dropped and counted once the bytes are spent", async () => {
    const sink = gatedSink();
    const { logger, lines } = captureLogger();
    const log = createAuditLog({ sinks: [{ sink }], logger, bufferSize: 10_000, bufferBytes: 64 * 1024 });
    const big = (i: number) => ({ ...mixedRecord(i), message: "m".repeat(8000) });
    for (let i = 0; i < 50; i++) log.append(big(i));
    const s = log.stats().sinks.gated!;
    assert.ok(s.buffered >= 7 && s.buffered <= 8, `buffered ${s.buffered}`);
    assert.equal(s.dropped, 50 - s.buffered);
    assert.ok(s.bufferedBytes <= 64 * 1024 && s.bufferedBytes > 56 * 1024, `bufferedBytes ${s.bufferedBytes}`);
    assert.equal(lines.filter((l) => l.includes("audit buffer full")).length, 1);
    sink.open();
    await log.flush();
    assert.equal(sink.stored.length, s.buffered);
    assert.equal(log.stats().sinks.gated!.bufferedBytes, 0, "the bytes are given back as records are written");
    await log.close();
  });

  test("a failing sink is retried with backoff; appendDurable rejects AUDIT_UNAVAILABLE; other sinks carry on", async () => {
    const broken = gatedSink("broken");
    broken.open();
    broken.failing = true;
    const memory = new MemoryAuditSink();
    const { logger, lines } = captureLogger();
    const log = createAuditLog({ sinks: [{ sink: broken }, { sink: memory, required: false }], logger, retryDelayMs: 5, maxRetryDelayMs: 20 });
    for (const r of mixedRecords(20)) log.append(r);
    await until(() => log.stats().sinks.broken!.failures >= 3);
    await assert.rejects(log.appendDurable(mixedRecord(99)), (e: unknown) => e instanceof PdpError && e.code === "AUDIT_UNAVAILABLE");
    assert.equal(log.stats().durableFailures, 1);
    assert.equal(log.stats().sinks.broken!.healthy, false);
    assert.match(log.stats().sinks.broken!.lastError!, /sink down/);
    assert.equal(memory.size, 20, "the optional sink got the appended records, and not the refused durable one");
    assert.ok(lines.some((l) => l.includes("audit sink write failed")));
    broken.failing = false;
    await log.flush();
    assert.equal(broken.stored.length, 20, "the backlog is written once the sink recovers");
    assert.equal(log.stats().sinks.broken!.healthy, true);
    await log.appendDurable(mixedRecord(100));
    assert.equal(broken.stored.length, 21);
    await log.close();
  });

  test("appendDurable times out against a stuck sink, and the record is not written later", async () => {
    const stuck = gatedSink("stuck");
    const { logger } = captureLogger();
    const log = createAuditLog({ sinks: [{ sink: stuck }], logger, durableTimeoutMs: 50 });
    const first = mixedRecord(1);
    log.append(first); // occupies the sink (in flight)
    const r = mixedRecord(2);
    await assert.rejects(log.appendDurable(r), (e: unknown) => e instanceof PdpError && e.code === "AUDIT_UNAVAILABLE");
    stuck.open();
    await log.flush();
    assert.deepEqual(
      stuck.stored.map((x) => x.decisionId),
      [first.decisionId],
      "the timed-out durable record was not written after all",
    );
    await log.close();
  });

  test("appends after close are dropped and counted", async () => {
    const memory = new MemoryAuditSink();
    const { logger } = captureLogger();
    const log = createAuditLog({ sinks: [{ sink: memory }], logger });
    await log.close();
    log.append(mixedRecord(1));
    await assert.rejects(log.appendDurable(mixedRecord(2)), (e: unknown) => e instanceof PdpError && e.code === "AUDIT_UNAVAILABLE");
    assert.equal(log.stats().sinks.memory!.dropped, 2);
    assert.equal(memory.size, 0);
  });
});

describe("audit log: a real Redis that dies (private redis-server, killed by pid)", () => {
  let redis: PrivateRedis;
  before(async () => {
    redis = await PrivateRedis.start();
  });
  after(async () => {
    await redis.stop();
  });

  test("failures counted and reported; appendDurable rejects; recovery writes the backlog; no crash, no unhandled rejection", async () => {
    const client = await testClient(redis.url, { connectTimeoutMs: 300, commandTimeoutMs: 300, maxReconnectDelayMs: 100 });
    const keyPrefix = uniquePrefix("audit-outage");
    const sink = new RedisAuditSink({ client, keyPrefix });
    const memory = new MemoryAuditSink();
    const { logger, lines } = captureLogger();
    const log = createAuditLog({
      sinks: [{ sink }, { sink: memory, required: false }],
      logger,
      retryDelayMs: 20,
      maxRetryDelayMs: 100,
      durableTimeoutMs: 1000,
    });
    try {
      for (const r of mixedRecords(10)) log.append(r);
      await log.appendDurable(mixedRecord(10));
      await log.flush();
      assert.equal(log.stats().sinks.redis!.written, 11);

      await redis.kill();
      for (const r of mixedRecords(30, 100)) log.append(r);
      await until(() => log.stats().sinks.redis!.failures >= 2, 5000);
      const started = Date.now();
      await assert.rejects(log.appendDurable(mixedRecord(999)), (e: unknown) => e instanceof PdpError && e.code === "AUDIT_UNAVAILABLE");
      assert.ok(Date.now() - started < 1500);
      const s = log.stats();
      assert.equal(s.sinks.redis!.healthy, false);
      assert.ok(s.sinks.redis!.buffered >= 30);
      assert.ok(s.sinks.redis!.lastError);
      assert.equal(s.sinks.memory!.written, 41, "the memory sink is unaffected");
      assert.ok(lines.some((l) => l.includes("audit sink write failed") && l.includes('"sink":"redis"')));

      await redis.restart(); // empty: no persistence; the chain starts again from the new head
      await until(() => log.stats().sinks.redis!.buffered === 0 && log.stats().sinks.redis!.healthy, 10_000);
      assert.equal(log.stats().sinks.redis!.written, 41);
      await log.appendDurable(mixedRecord(1000));
      assert.equal(await client.xlen(sink.keys.stream), 31);
      assert.equal((await sink.verifyChain()).ok, true);
      assert.deepEqual(unhandled, []);
    } finally {
      await log.close();
      client.disconnect();
    }
  });

  test("a write whose reply is lost (server paused past the command timeout) is not stored twice on retry", async () => {
    const client = await testClient(redis.url, { commandTimeoutMs: 200 });
    const keyPrefix = uniquePrefix("audit-lost-reply");
    const sink = new RedisAuditSink({ client, keyPrefix });
    const { logger } = captureLogger();
    const log = createAuditLog({ sinks: [{ sink }], logger, retryDelayMs: 400, maxRetryDelayMs: 400 });
    try {
      await sink.write(mixedRecords(5, 0));
      redis.pause();
      for (const r of mixedRecords(20, 10)) log.append(r);
      await until(() => log.stats().sinks.redis!.failures >= 1, 3000);
      redis.resume(); // the queued script now runs: the batch is stored, but its reply was already given up on
      await log.flush(5000);
      assert.equal(log.stats().sinks.redis!.buffered, 0);
      assert.equal(await client.xlen(sink.keys.stream), 25, "exactly once");
      const v = await sink.verifyChain();
      assert.equal(v.ok, true, v.problem?.message);
      assert.deepEqual(unhandled, []);
    } finally {
      try {
        redis.resume();
      } catch {
        // not paused
      }
      await log.close();
      await deleteKeysUnder(client, keyPrefix);
      await client.quit();
    }
  });
});

describe("pino sink: one serialisation, no token by construction", () => {
  test("each line is the canonical JSON its chain hashed, and records are built from named fields only", async () => {
    let out = "";
    const destination = new Writable({
      write(chunk, _e, cb) {
        out += String(chunk);
        cb();
      },
    });
    const sink = createPinoAuditSink({ target: "unused", destination });
    const secret = "eyJhbGciOiJFUzI1NiJ9.c2VjcmV0LXRva2Vu.c2lnbmF0dXJl";
    // A subject carrying a token-named property by mistake: the record builder copies named fields only.
    const leaky = { clientId: "c", userToken: secret, token: secret, extra: { workloadToken: secret } } as unknown as RecordSubject;
    const built = toRecord({ kind: "authorize", decisionId: "d-1", at: new Date(0), version: "v", latencyUs: 1 }, leaky, {
      allow: true,
      reasonCode: "ALLOWED",
      reasons: [],
      message: "ok",
    });
    await sink.write([built, mixedRecord(2)]);
    await sink.close();
    const lines = out.trim().split("\n");
    assert.equal(lines.length, 2);
    assert.ok(!out.includes(secret), "no token text in the decision stream");
    for (const line of lines) {
      const { msg, stream, ...record } = JSON.parse(line) as ChainedRecord & { msg: string; stream: string };
      assert.equal(msg, "decision");
      assert.equal(stream, "decision");
      // The bytes written are the bytes hashed: the line without its envelope and hash is canonical and hashes to `hash`.
      const { hash, ...hashed } = record;
      assert.equal(line.startsWith(canonicalJson({ ...hashed, hash }).slice(0, -1)), true, "the line is the canonical serialisation");
      assert.equal(recordHash(record), hash);
    }
  });
});
