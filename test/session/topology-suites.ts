/**
 * Everything the PDP keeps in Redis, run against one Redis topology (Cluster, Sentinel): the store
 * contract suite (sessions, revocations, the one-load reader), the audit query suite and the hash
 * chain with two writers, approvals, and the key layout (every multi-key script in one slot).
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { createAuditLog } from "../../src/audit/audit-log.js";
import { RedisAuditSink } from "../../src/audit/redis-audit-sink.js";
import { RedisApprovalStore } from "../../src/session/redis-approval-store.js";
import type { RedisClient, RedisConnectionOptions } from "../../src/redis/connection.js";
import { createRedisConnection } from "../../src/redis/connection.js";
import { RedisDecisionStateReader } from "../../src/session/redis-decision-state-reader.js";
import { RedisToolDefinitionStore } from "../../src/session/redis-tool-definition-store.js";
import { RedisRevocationStore } from "../../src/session/redis-revocation-store.js";
import { RedisSessionStore } from "../../src/session/redis-session-store.js";
import { newSessionId } from "../../src/session/session-id.js";
import { captureLogger, mixedRecords } from "../audit/fixtures.js";
import { readerContract } from "../audit/reader-contract.js";
import { deleteKeysUnder, uniquePrefix } from "../support/redis.js";
import { waitFor } from "../support/redis-topologies.js";
import { RedisNoveltyStore } from "../../src/session/redis-novelty-store.js";
import { noveltyContract } from "./novelty-contract.js";
import { storeContract } from "./store-contract.js";

/** Connection options (one of `sentinel`, `cluster`) for a running topology. */
export type TopologyOptions = Pick<RedisConnectionOptions, "sentinel" | "cluster">;

/** A connected client, built the way the PDP builds its own. */
export async function topologyClient(options: TopologyOptions): Promise<RedisClient> {
  const client = createRedisConnection({ ...options, commandTimeoutMs: 5000 });
  try {
    await waitFor("the client ready", async () => client.status === "ready", 20_000);
  } catch (err) {
    client.disconnect();
    throw err;
  }
  return client;
}

/**
 * Registers the suites for topology `name`. `topology()` starts it on first use (memoised by the
 * caller) and `stop()` runs after every test of the file.
 */
export function topologySuites(name: string, topology: () => Promise<TopologyOptions>, stop: () => Promise<void>): void {
  after(stop);
  const connect = async () => topologyClient(await topology());

  storeContract(name, async ({ expiredRetentionMs }) => {
    const keyPrefix = uniquePrefix("topology-contract");
    const client = await connect();
    const other = await connect();
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
      advance: (ms) => new Promise((r) => setTimeout(r, ms)),
      close: async () => {
        await sessions.close();
        await revocations.close();
        await otherReplicaRevocations.close();
        await deleteKeysUnder(client, keyPrefix);
        other.disconnect();
        client.disconnect();
      },
    };
  });

  // The novelty store's script is single-slot (one hash tag), so it runs on a Cluster as on one node.
  noveltyContract(name, async (options) => {
    const keyPrefix = uniquePrefix("topology-novelty");
    const client = await connect();
    const other = await connect();
    return {
      store: new RedisNoveltyStore({ ...options, client, keyPrefix }),
      other: new RedisNoveltyStore({ ...options, client: other, keyPrefix }),
      advance: (ms) => new Promise((r) => setTimeout(r, ms)),
      close: async () => {
        await deleteKeysUnder(client, keyPrefix);
        other.disconnect();
        client.disconnect();
      },
    };
  });

  readerContract(`${name} stream`, async () => {
    const client = await connect();
    const keyPrefix = uniquePrefix("topology-audit");
    return {
      sink: new RedisAuditSink({ client, keyPrefix, stream: "decisions" }),
      close: async () => {
        await deleteKeysUnder(client, keyPrefix);
        client.disconnect();
      },
    };
  });

  describe(`${name}: audit hash chain and approvals`, { timeout: 120_000 }, () => {
    test("two writers (two AuditLogs, two connections) on one stream yield one verifiable chain", async () => {
      const keyPrefix = uniquePrefix("topology-chain");
      const c1 = await connect();
      const c2 = await connect();
      const s1 = new RedisAuditSink({ client: c1, keyPrefix });
      const s2 = new RedisAuditSink({ client: c2, keyPrefix });
      const { logger } = captureLogger();
      const l1 = createAuditLog({ sinks: [{ sink: s1 }], logger, batchSize: 16 });
      const l2 = createAuditLog({ sinks: [{ sink: s2 }], logger, batchSize: 16 });
      try {
        const a = mixedRecords(600, 0);
        const b = mixedRecords(600, 5000);
        for (let i = 0; i < 600; i += 50) {
          for (const r of a.slice(i, i + 50)) l1.append(r);
          for (const r of b.slice(i, i + 50)) l2.append(r);
          await new Promise((r) => setImmediate(r));
        }
        await Promise.all([l1.flush(20_000), l2.flush(20_000)]);
        assert.equal(await c1.xlen(s1.keys.stream), 1200);
        const v = await s1.verifyChain();
        assert.equal(v.ok, true, v.problem?.message);
        assert.equal(v.checked, 1200);
        assert.equal(l1.stats().sinks.redis!.written + l2.stats().sinks.redis!.written, 1200);
        const page = await s2.query({ decision: "DENY", tool: "search" }, { limit: 1000 });
        assert.ok(page.records.length > 0 && page.records.every((s) => s.record.decision === "DENY" && s.record.tool === "search"));
      } finally {
        await l1.close();
        await l2.close();
        await deleteKeysUnder(c1, keyPrefix);
        c1.disconnect();
        c2.disconnect();
      }
    });

    test("approvals: request, decide, consume once, list — each script in its session's slot", async () => {
      const keyPrefix = uniquePrefix("topology-approvals");
      const client = await connect();
      const store = new RedisApprovalStore({ client, keyPrefix });
      try {
        const call = {
          sessionId: newSessionId(),
          agentId: "agent-1",
          userIssuer: "https://idp",
          userSubject: "alice",
          clientId: "client-1",
          serverId: "srv",
          tool: "deploy",
          resourceUri: "",
          argumentsDigest: "0".repeat(64),
          purpose: "p",
        };
        const { approval } = await store.request(call, { policyVersion: "v1", expiresAt: Date.now() + 60_000 });
        assert.equal(approval.state, "pending");
        assert.equal((await store.request(call, { policyVersion: "v1", expiresAt: Date.now() + 60_000 })).approval.id, approval.id, "one live approval per call");
        assert.equal(await store.consume(call), null, "a pending approval is not usable");
        assert.equal((await store.decide(approval.id, "approved", "ops", "ok"))?.state, "approved");
        assert.equal((await store.consume(call))?.state, "used");
        assert.equal(await store.consume(call), null, "used once");
        assert.deepEqual((await store.list({ sessionId: call.sessionId }, 10)).map((a) => a.id), [approval.id]);
      } finally {
        await deleteKeysUnder(client, keyPrefix);
        client.disconnect();
      }
    });
  });
}
