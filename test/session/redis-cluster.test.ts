/**
 * The Redis stores, audit stream and approvals on a real local Redis Cluster: 3 masters with one
 * replica each (`redis-server --cluster-enabled yes`, joined by `redis-cli --cluster create`), on
 * free ports in a temporary directory, stopped after the file. Also checks the key layout: one
 * session's keys share a slot, and sessions spread over every master.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { RedisKeys } from "../../src/session/redis-keys.js";
import { RedisSessionStore } from "../../src/session/redis-session-store.js";
import { newSessionId } from "../../src/session/session-id.js";
import { deleteKeysUnder, uniquePrefix } from "../support/redis.js";
import { startRedisCluster, type RedisClusterTopology } from "../support/redis-topologies.js";
import { topologyClient, topologySuites } from "./topology-suites.js";

let started: Promise<RedisClusterTopology> | undefined;
const cluster = () => (started ??= startRedisCluster({ masters: 3, replicasPerMaster: 1 }));

topologySuites(
  "redis cluster",
  async () => ({ cluster: { nodes: (await cluster()).addresses } }),
  async () => {
    await (await started?.catch(() => undefined))?.stop();
  },
);

describe("redis cluster: key layout", { timeout: 120_000 }, () => {
  test("one session's keys live on one master; many sessions spread over all three", async () => {
    const topology = await cluster();
    const client = await topologyClient({ cluster: { nodes: topology.addresses } });
    const keyPrefix = uniquePrefix("cluster-layout");
    const k = new RedisKeys(keyPrefix);
    const store = new RedisSessionStore({ client, keyPrefix });
    try {
      const owners = new Set<number>();
      for (let i = 0; i < 12; i++) {
        const id = newSessionId();
        const now = Date.now();
        await store.create({
          id,
          binding: { userIssuer: "https://idp", userSubject: "alice", agentId: "agent-1", clientId: "client-1", serverId: "srv", idp: "https://idp", purpose: "p" },
          grantedTools: ["t"],
          grantedResources: [],
          grantedPrompts: [],
          createdAt: now,
          expiresAt: now + 60_000,
        });
        assert.equal((await store.appendCall(id, { tool: "t", labels: ["x"], risk: 1 })).ok, true);
        const masters = await Promise.all([k.session(id), k.sessionTools(id), k.sessionLabels(id), k.revocation("session", id)].map((key) => topology.masterOf(key)));
        assert.equal(new Set(masters.map((m) => m.port)).size, 1, "all of a session's keys on one master");
        owners.add(masters[0]!.port);
      }
      assert.ok(owners.size >= 2, `12 sessions landed on ${owners.size} master(s)`);
    } finally {
      await deleteKeysUnder(client, keyPrefix);
      client.disconnect();
    }
  });
});
