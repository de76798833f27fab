import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { Cluster, Redis } from "ioredis";
import { PdpError } from "../../src/errors.js";
import { createRedisConnection } from "../../src/redis/connection.js";
import { RedisDecisionStateReader } from "../../src/session/redis-decision-state-reader.js";
import { RedisKeys } from "../../src/session/redis-keys.js";
import { RedisRevocationStore } from "../../src/session/redis-revocation-store.js";
import { RedisSessionStore } from "../../src/session/redis-session-store.js";
import { RedisToolDefinitionStore } from "../../src/session/redis-tool-definition-store.js";
import { newSessionId } from "../../src/session/session-id.js";
import type { NewSession, RevocationEvent } from "../../src/session/types.js";
import { PrivateRedis, deleteKeysUnder, keysUnder, testClient, uniquePrefix } from "../support/redis.js";
import { storeContract } from "./store-contract.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

storeContract("redis", async ({ expiredRetentionMs }) => {
  const keyPrefix = uniquePrefix("contract");
  const client = await testClient();
  const other = await testClient();
  const sessions = new RedisSessionStore({ client, keyPrefix, expiredRetentionMs });
  const revocations = new RedisRevocationStore({ client, keyPrefix });
  const otherReplicaRevocations = new RedisRevocationStore({ client: other, keyPrefix });
  return {
    sessions,
    revocations,
    reader: new RedisDecisionStateReader({ client, keyPrefix }),
    otherReplicaRevocations,
    definitions: new RedisToolDefinitionStore({ client, keyPrefix }),
    otherReplicaDefinitions: new RedisToolDefinitionStore({ client: other, keyPrefix }),
    now: () => Date.now(),
    advance: async (ms) => {
      await sleep(ms);
    },
    close: async () => {
      await sessions.close();
      await revocations.close();
      await otherReplicaRevocations.close();
      await deleteKeysUnder(client, keyPrefix);
      other.disconnect();
      await client.quit();
    },
  };
});

function session(ttlMs: number): NewSession {
  const now = Date.now();
  return {
    id: newSessionId(),
    binding: { userIssuer: "https://idp", userSubject: "alice", agentId: "agent-1", clientId: "client-1", serverId: "srv", idp: "https://idp", purpose: "p" },
    grantedTools: ["t"],
    grantedResources: [],
    grantedPrompts: [],
    createdAt: now,
    expiresAt: now + ttlMs,
  };
}

/** CRC16/XMODEM as Redis Cluster uses it, with the hash-tag rule: the slot a key maps to. */
function keySlot(key: string): number {
  const open = key.indexOf("{");
  if (open !== -1) {
    const close = key.indexOf("}", open + 1);
    if (close > open + 1) key = key.slice(open + 1, close);
  }
  let crc = 0;
  for (const byte of Buffer.from(key)) {
    crc ^= byte << 8;
    for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
  }
  return crc % 16384;
}

describe("redis: key layout and TTLs", () => {
  test("one session's keys share a slot, carry the prefix, and Redis holds their TTL; append never raises it", async () => {
    const keyPrefix = uniquePrefix("layout");
    const client = await testClient();
    try {
      const store = new RedisSessionStore({ client, keyPrefix, expiredRetentionMs: 0 });
      const s = session(5000);
      await store.create(s);
      await store.appendCall(s.id, { tool: "t", labels: ["sensitive"], risk: 1 });
      const k = new RedisKeys(keyPrefix);
      const sessionKeys = [k.session(s.id), k.sessionTools(s.id), k.sessionLabels(s.id)];
      assert.deepEqual(await keysUnder(client, keyPrefix), [...sessionKeys, `${keyPrefix}idx:agent:agent-1`, `${keyPrefix}idx:client:client-1`, `${keyPrefix}idx:user:https://idp#alice`].sort());
      assert.equal(new Set(sessionKeys.map(keySlot)).size, 1, "one slot");
      assert.equal(keySlot(k.revocation("session", s.id)), keySlot(k.session(s.id)));
      for (const key of await keysUnder(client, keyPrefix)) {
        const pttl = await client.pttl(key);
        assert.ok(pttl > 4000 && pttl <= 5000, `${key} PTTL ${pttl}`);
      }
      await sleep(300);
      const before = await client.pttl(k.session(s.id));
      await store.appendCall(s.id, { tool: "u", labels: ["egress"], risk: 1 });
      for (const key of sessionKeys) assert.ok((await client.pttl(key)) <= before, `${key} not extended`);
      await store.end(s.id, "revoked");
      assert.ok((await client.pttl(k.session(s.id))) <= before, "end does not extend either");
    } finally {
      await deleteKeysUnder(client, keyPrefix);
      await client.quit();
    }
  });

  test("a prefix with braces is refused (it would pin every key to one slot)", () => {
    assert.throws(() => new RedisKeys("a{b}:"), (e) => e instanceof PdpError && e.code === "CONFIG_INVALID");
  });
});

describe("redis: one round trip per decision", () => {
  test("loadForDecision writes one pipeline, and costs about one GET", async () => {
    const keyPrefix = uniquePrefix("roundtrip");
    const client = await testClient();
    try {
      const sessions = new RedisSessionStore({ client, keyPrefix });
      const reader = new RedisDecisionStateReader({ client, keyPrefix });
      const s = session(60_000);
      await sessions.create(s);
      const subjects = { agentId: "agent-1", user: "https://idp#alice", clientId: "client-1", tokenIds: ["j1", "j2"], tokensIssuedAt: Date.now() };
      await reader.loadForDecision(s.id, subjects);
      const stream = client.stream as unknown as { write: (...a: unknown[]) => boolean };
      const write = stream.write;
      let writes = 0;
      let commands = 0;
      stream.write = function (this: unknown, ...a: unknown[]) {
        writes++;
        commands += String(a[0]).split("\r\n").filter((l) => l.startsWith("*")).length;
        return write.apply(this, a);
      };
      let state;
      try {
        state = await reader.loadForDecision(s.id, subjects);
      } finally {
        stream.write = write;
      }
      assert.equal(state.session?.id, s.id);
      assert.equal(writes, 1, "one write to the socket");
      assert.equal(commands, 4, "HGETALL, LRANGE, SMEMBERS, MGET");

      const time = async (fn: () => Promise<unknown>) => {
        const xs: number[] = [];
        for (let i = 0; i < 300; i++) {
          const t0 = process.hrtime.bigint();
          await fn();
          xs.push(Number(process.hrtime.bigint() - t0) / 1000);
        }
        xs.sort((a, b) => a - b);
        return { p50: xs[150]!, p99: xs[297]! };
      };
      const get = await time(() => client.get(`${keyPrefix}nothing`));
      const load = await time(() => reader.loadForDecision(s.id, subjects));
      console.log(
        `# loadForDecision (session + 5 revocation keys): p50 ${load.p50.toFixed(0)} µs, p99 ${load.p99.toFixed(0)} µs; ` +
          `single GET: p50 ${get.p50.toFixed(0)} µs, p99 ${get.p99.toFixed(0)} µs`,
      );
    } finally {
      await deleteKeysUnder(client, keyPrefix);
      await client.quit();
    }
  });
});

describe("redis: outage", () => {
  test("a killed Redis fails every operation fast with STORE_UNAVAILABLE; restarted, the same stores work again", async () => {
    const server = await PrivateRedis.start();
    const unhandled: unknown[] = [];
    const onUnhandled = (e: unknown) => unhandled.push(e);
    process.on("unhandledRejection", onUnhandled);
    const client = await testClient(server.url, { maxReconnectDelayMs: 200 });
    const keyPrefix = uniquePrefix("outage");
    const deadlineMs = 300;
    const sessions = new RedisSessionStore({ client, keyPrefix, deadlineMs });
    const revocations = new RedisRevocationStore({ client, keyPrefix, deadlineMs });
    const reader = new RedisDecisionStateReader({ client, keyPrefix, deadlineMs });
    const events: RevocationEvent[] = [];
    try {
      await revocations.subscribe((e) => events.push(e));
      const s = session(60_000);
      await sessions.create(s);
      assert.equal((await sessions.get(s.id))?.id, s.id);

      await server.kill();
      const ops: Array<[string, () => Promise<unknown>]> = [
        ["get", () => sessions.get(s.id)],
        ["create", () => sessions.create(session(60_000))],
        ["appendCall", () => sessions.appendCall(s.id, { tool: "t", labels: [], risk: 1 })],
        ["end", () => sessions.end(s.id, "ended")],
        ["listBy", () => sessions.listBy({ kind: "agent", value: "agent-1" })],
        ["revoke", () => revocations.revoke({ kind: "agent", value: "a", at: Date.now(), ttlMs: 1000 })],
        ["check", () => revocations.check({ agentId: "a" })],
        ["loadForDecision", () => reader.loadForDecision(s.id, { agentId: "a" })],
      ];
      for (const [name, op] of ops) {
        const t0 = Date.now();
        await assert.rejects(op(), (e) => e instanceof PdpError && e.code === "STORE_UNAVAILABLE", name);
        const ms = Date.now() - t0;
        assert.ok(ms <= deadlineMs + 100, `${name} failed after ${ms} ms`);
      }

      const down = Date.now();
      await server.restart();
      let recovered = -1;
      while (Date.now() - down < 5000) {
        try {
          await sessions.create(session(60_000));
          recovered = Date.now() - down;
          break;
        } catch (e) {
          assert.ok(e instanceof PdpError && e.code === "STORE_UNAVAILABLE");
          await sleep(25);
        }
      }
      assert.ok(recovered >= 0, "operations succeed again without recreating the store");
      console.log(`# recovered ${recovered} ms after redis-server restarted`);
      assert.equal(await sessions.get(s.id), undefined, "the private server kept nothing (no persistence)");
      const t0 = Date.now();
      while (!events.some((e) => e.type === "resync") && Date.now() - t0 < 3000) await sleep(20);
      assert.ok(events.some((e) => e.type === "resync"), "subscribers are told to resync after the outage");
      const rec = await revocations.revoke({ kind: "agent", value: "after", at: Date.now(), ttlMs: 60_000 });
      const t1 = Date.now();
      while (!events.some((e) => e.type === "revoked") && Date.now() - t1 < 2000) await sleep(5);
      assert.deepEqual(events.find((e) => e.type === "revoked"), { type: "revoked", record: rec }, "subscription restored");
      await sleep(50);
      assert.deepEqual(unhandled, []);
    } finally {
      process.off("unhandledRejection", onUnhandled);
      await revocations.close();
      client.disconnect();
      await server.stop();
    }
  });

  test("a Redis slower than the deadline gives STORE_UNAVAILABLE within the deadline", async () => {
    const server = await PrivateRedis.start();
    const client = await testClient(server.url, { commandTimeoutMs: 1000 });
    const keyPrefix = uniquePrefix("slow");
    const sessions = new RedisSessionStore({ client, keyPrefix, deadlineMs: 200 });
    try {
      const s = session(60_000);
      await sessions.create(s);
      server.pause();
      const t0 = Date.now();
      await assert.rejects(sessions.get(s.id), (e) => e instanceof PdpError && e.code === "STORE_UNAVAILABLE");
      const ms = Date.now() - t0;
      // The deadline, or twice it when this (busy) process's own timer fired late, plus slack.
      assert.ok(ms >= 190 && ms < 2 * 200 + 600, `failed after ${ms} ms`);
      server.resume();
      await sleep(50);
      assert.equal((await sessions.get(s.id))?.id, s.id);
    } finally {
      try {
        server.resume();
      } catch {
        // already running
      }
      client.disconnect();
      await server.stop();
    }
  });
});

describe("redis: replica confirmation", () => {
  test("confirmReplicas: a write fewer replicas confirm than asked fails STORE_UNAVAILABLE (fail closed)", { timeout: 30_000 }, async () => {
    const keyPrefix = uniquePrefix("confirm");
    const client = await testClient();
    try {
      const replicas = Number(/connected_slaves:(\d+)/.exec(await client.info("replication"))?.[1] ?? 0);
      const plain = new RedisSessionStore({ client, keyPrefix });
      const s = session(60_000);
      await plain.create(s);
      const opts = { client, keyPrefix, deadlineMs: 300, confirmReplicas: replicas + 1 };
      const confirmed = new RedisSessionStore(opts);
      const unavailable = (e: unknown) => e instanceof PdpError && e.code === "STORE_UNAVAILABLE";
      await assert.rejects(confirmed.create(session(60_000)), unavailable);
      await assert.rejects(confirmed.appendCall(s.id, { tool: "t", labels: [], risk: 1 }), unavailable);
      await assert.rejects(confirmed.end(s.id, "ended"), unavailable);
      await assert.rejects(new RedisRevocationStore(opts).revoke({ kind: "agent", value: "a", at: Date.now(), ttlMs: 1000 }), unavailable);
      assert.equal((await confirmed.get(s.id))?.id, s.id, "reads need no confirmation");
      assert.throws(() => new RedisSessionStore({ client, keyPrefix, confirmReplicas: -1 }), (e) => e instanceof PdpError && e.code === "CONFIG_INVALID");
    } finally {
      await deleteKeysUnder(client, keyPrefix);
      await client.quit();
    }
  });
});

describe("redis: connection options", () => {
  test("exactly one of url, sentinel, cluster; bad values are CONFIG_INVALID", () => {
    const bad = (o: Parameters<typeof createRedisConnection>[0]) =>
      assert.throws(() => createRedisConnection(o), (e) => e instanceof PdpError && e.code === "CONFIG_INVALID");
    bad({});
    bad({ url: "redis://127.0.0.1:1", cluster: { nodes: [{ host: "127.0.0.1", port: 1 }] } });
    bad({ url: "http://127.0.0.1:6379" });
    bad({ url: "not a url" });
    bad({ cluster: { nodes: [] } });
    bad({ sentinel: { sentinels: [], name: "m" } });
    bad({ url: "redis://127.0.0.1:1", commandTimeoutMs: -1 });
  });

  test("builds standalone, Sentinel and Cluster clients that fail fast", () => {
    const standalone = createRedisConnection({ url: "redis://127.0.0.1:1", lazyConnect: true, commandTimeoutMs: 123 });
    const sentinel = createRedisConnection({ sentinel: { sentinels: [{ host: "127.0.0.1", port: 1 }], name: "mymaster" }, lazyConnect: true });
    const cluster = createRedisConnection({ cluster: { nodes: [{ host: "127.0.0.1", port: 1 }] }, lazyConnect: true, commandTimeoutMs: 77 });
    try {
      assert.ok(standalone instanceof Redis && !(standalone instanceof Cluster));
      assert.equal(standalone.options.commandTimeout, 123);
      assert.equal(standalone.options.enableOfflineQueue, false);
      assert.equal(standalone.options.enableAutoPipelining, true);
      assert.ok(sentinel instanceof Redis);
      assert.equal((sentinel.options as { name?: string }).name, "mymaster");
      assert.ok(cluster instanceof Cluster);
      assert.equal(cluster.options.enableOfflineQueue, false);
      assert.equal(cluster.options.redisOptions?.commandTimeout, 77);
    } finally {
      standalone.disconnect();
      sentinel.disconnect();
      cluster.disconnect();
    }
  });
});
