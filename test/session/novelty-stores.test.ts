import { MemoryNoveltyStore } from "../../src/session/memory-novelty-store.js";
import { RedisNoveltyStore } from "../../src/session/redis-novelty-store.js";
import { deleteKeysUnder, keysUnder, testClient, uniquePrefix } from "../support/redis.js";
import assert from "node:assert/strict";
import { test } from "node:test";
import { noveltyContract } from "./novelty-contract.js";

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

noveltyContract("memory", async (options) => {
  let t = 1_700_000_000_000;
  const store = new MemoryNoveltyStore({ ...options, now: () => t });
  return {
    store,
    other: store,
    advance: async (ms) => {
      t += ms;
    },
    close: () => store.close(),
  };
});

noveltyContract("redis", async (options) => {
  const keyPrefix = uniquePrefix("novelty");
  const client = await testClient();
  const otherClient = await testClient();
  return {
    store: new RedisNoveltyStore({ ...options, client, keyPrefix }),
    other: new RedisNoveltyStore({ ...options, client: otherClient, keyPrefix }),
    advance: sleep,
    close: async () => {
      await deleteKeysUnder(client, keyPrefix);
      otherClient.disconnect();
      await client.quit();
    },
  };
});

test("redis: the relations live under one hash tag with the window as TTL, members are fixed-size digests", async () => {
  const keyPrefix = uniquePrefix("novelty");
  const client = await testClient();
  try {
    const store = new RedisNoveltyStore({ client, keyPrefix, windowMs: 60_000, maxEntries: 10 });
    await store.observe([{ kind: "agent_at_server", key: ["spiffe://a", "https://" + "x".repeat(2000)] }]);
    assert.deepEqual(await keysUnder(client, keyPrefix), [`${keyPrefix}{novelty}`], "without a probation, one key");
    const [member] = await client.zrange(`${keyPrefix}{novelty}`, "0", "-1");
    assert.ok(member!.length < 40, member);
    const ttl = await client.pttl(`${keyPrefix}{novelty}`);
    assert.ok(ttl > 0 && ttl <= 60_000, String(ttl));
    // With a probation the first sightings live beside the relations, bounded the same way.
    const probation = new RedisNoveltyStore({ client, keyPrefix, windowMs: 60_000, maxEntries: 10, probationMs: 60_000 });
    for (let i = 0; i < 25; i++) await probation.observe([{ kind: "client_for_user", key: [`c-${i}`, "u"] }]);
    assert.equal(await client.zcard(`${keyPrefix}{novelty}`), 10);
    assert.equal(await client.hlen(`${keyPrefix}{novelty}:first`), 10, "evicted relations take their first sighting with them");
  } finally {
    await deleteKeysUnder(client, keyPrefix);
    await client.quit();
  }
});
