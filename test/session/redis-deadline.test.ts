/**
 * The store deadline measures the store, not the event loop. A healthy Redis whose reply waits
 * unread while this process is busy is not an outage; a Redis that does not answer still gives
 * STORE_UNAVAILABLE within a bounded time. The stores are built by `createStateStores` exactly as the
 * PDP builds them (the same connection options), against the shared Redis or a private one.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { pino } from "pino";
import type { Redis } from "ioredis";
import { PdpError } from "../../src/errors.js";
import { newSessionId } from "../../src/session/session-id.js";
import { createStateStores, type StateStores } from "../../src/session/state-stores.js";
import type { NewSession } from "../../src/session/types.js";
import { PrivateRedis, REDIS_URL, deleteKeysUnder, testClient, uniquePrefix } from "../support/redis.js";

const DEADLINE_MS = 100;

/** Holds the event loop (and so every timer and socket read) for `ms`. */
function busyWait(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // a saturated process: nothing else runs
  }
}

function session(): NewSession {
  const now = Date.now();
  return {
    id: newSessionId(),
    binding: { userIssuer: "https://idp", userSubject: "alice", agentId: "agent-1", clientId: "client-1", serverId: "srv", idp: "https://idp", purpose: "p" },
    grantedTools: ["t"],
    grantedResources: [],
    grantedPrompts: [],
    createdAt: now,
    expiresAt: now + 60_000,
  };
}

async function redisStores(url: string, keyPrefix: string): Promise<StateStores> {
  const stores = createStateStores({ backend: "redis", redis: { url, keyPrefix, deadlineMs: DEADLINE_MS, confirmReplicas: 0 } }, pino({ level: "silent" }));
  const started = Date.now();
  while (!stores.healthy()) {
    if (Date.now() - started > 10_000) {
      await stores.close();
      throw new Error(`redis at ${url} not ready within 10 s`);
    }
    await new Promise((r) => setTimeout(r, 20));
  }
  return stores;
}

const isCode = (code: string) => (e: unknown) => e instanceof PdpError && e.code === code;

describe("store deadline: the event loop is not the store", { timeout: 60_000 }, () => {
  test("a loop blocked past the deadline while commands are in flight to a healthy Redis gives no STORE_UNAVAILABLE", async () => {
    const keyPrefix = uniquePrefix("deadline-lag");
    const stores = await redisStores(REDIS_URL, keyPrefix);
    const cleaner = await testClient();
    try {
      const s = session();
      await stores.sessions.create(s);
      // Each operation is started (its command written), then the loop is held for 4× the deadline.
      const fresh = session();
      const ops = [
        stores.sessions.create(fresh),
        stores.sessions.get(s.id),
        stores.sessions.appendCall(s.id, { tool: "t", labels: [], risk: 1 }),
        stores.reader.loadForDecision(s.id, { sessionId: s.id, agentId: "agent-1" }),
        stores.revocations.check({ agentId: "agent-1" }),
        stores.approvals.list({}, 10),
      ];
      busyWait(DEADLINE_MS * 4);
      const results = await Promise.allSettled(ops);
      const failed = results.flatMap((r, i) => (r.status === "rejected" ? [`op ${i}: ${(r.reason as PdpError).code ?? ""} ${(r.reason as Error).message}`] : []));
      assert.deepEqual(failed, []);
      assert.equal((await stores.sessions.get(fresh.id))?.id, fresh.id);
      // Again, with the loop held before the commands are even flushed (same tick).
      const late = stores.sessions.get(s.id);
      busyWait(DEADLINE_MS * 3);
      assert.equal((await late)?.id, s.id);
    } finally {
      await stores.close();
      await deleteKeysUnder(cleaner, keyPrefix);
      cleaner.disconnect();
    }
  });

  test("a loop blocked for longer than the client's own command timeout is OVERLOADED, never STORE_UNAVAILABLE", async (t) => {
    const keyPrefix = uniquePrefix("deadline-long-lag");
    const stores = await redisStores(REDIS_URL, keyPrefix);
    const cleaner = await testClient();
    try {
      const s = session();
      await stores.sessions.create(s);
      const op = stores.sessions.get(s.id);
      busyWait(2_600); // past ioredis' backstop timeout (max(2000, 4× deadline))
      await op.then(
        (r) => {
          assert.equal(r?.id, s.id);
          t.diagnostic("answered (the reply was read before the client's timeout fired)");
        },
        (e) => assert.ok(isCode("OVERLOADED")(e), `expected success or OVERLOADED, got ${(e as PdpError).code}: ${(e as Error).message}`),
      );
      assert.equal((await stores.sessions.get(s.id))?.id, s.id);
    } finally {
      await stores.close();
      await deleteKeysUnder(cleaner, keyPrefix);
      cleaner.disconnect();
    }
  });
});

describe("store deadline: a Redis that does not answer is still STORE_UNAVAILABLE, within a bound", { timeout: 60_000 }, () => {
  // Bound: the deadline, once more if the loop was late, plus slack for a busy shared machine.
  const BOUND_MS = 2 * DEADLINE_MS + 1_000;

  for (const how of ["CLIENT PAUSE", "DEBUG SLEEP"] as const) {
    test(`${how}: every operation fails STORE_UNAVAILABLE within ${BOUND_MS} ms, with and without a blocked loop`, async () => {
      const server = await PrivateRedis.start({ args: ["--enable-debug-command", "yes"] });
      const keyPrefix = uniquePrefix("deadline-stall");
      let stores: StateStores | undefined;
      let admin: Redis | undefined;
      try {
        stores = await redisStores(server.url, keyPrefix);
        admin = await testClient(server.url, { commandTimeoutMs: 10_000 });
        const s = session();
        await stores.sessions.create(s);
        const stall = () => {
          if (how === "CLIENT PAUSE") return admin!.call("CLIENT", "PAUSE", "3000", "ALL");
          void admin!.call("DEBUG", "SLEEP", "3").catch(() => {});
          return new Promise((r) => setTimeout(r, 50)); // let DEBUG SLEEP reach the server
        };
        await stall();
        let t0 = performance.now();
        await assert.rejects(stores.sessions.get(s.id), isCode("STORE_UNAVAILABLE"));
        let ms = performance.now() - t0;
        assert.ok(ms >= DEADLINE_MS * 0.9 && ms < BOUND_MS, `free loop: failed after ${ms.toFixed(0)} ms`);
        // The loop held for 3× the deadline while the store is stalled: still a store failure, still bounded.
        t0 = performance.now();
        const op = stores.reader.loadForDecision(s.id, { sessionId: s.id });
        busyWait(DEADLINE_MS * 3);
        await assert.rejects(op, isCode("STORE_UNAVAILABLE"));
        ms = performance.now() - t0;
        assert.ok(ms < DEADLINE_MS * 3 + BOUND_MS, `blocked loop: failed after ${ms.toFixed(0)} ms`);
        if (how === "CLIENT PAUSE") await admin.call("CLIENT", "UNPAUSE");
        // Recovered: the same stores work again.
        const until = Date.now() + 10_000;
        for (;;) {
          try {
            assert.equal((await stores.sessions.get(s.id))?.id, s.id);
            break;
          } catch (e) {
            if (Date.now() > until) throw e;
            await new Promise((r) => setTimeout(r, 100));
          }
        }
      } finally {
        await stores?.close();
        admin?.disconnect();
        await server.stop();
      }
    });
  }
});
