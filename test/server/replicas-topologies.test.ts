/**
 * The two-replica scenario (replicas.test.ts) on a real local Redis Cluster (3 masters, 1 replica
 * each) and through Sentinel (primary, replica, one Sentinel): two PDP processes configured with
 * `store.redis.cluster` / `store.redis.sentinel` in a config file.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import type { RedisConnectionOptions } from "../../src/redis/connection.js";
import { deleteKeysUnder, uniquePrefix } from "../support/redis.js";
import { startRedisCluster, startRedisSentinel } from "../support/redis-topologies.js";
import { summary, twoReplicaScenario } from "../support/replica-scenario.js";
import { topologyClient } from "../session/topology-suites.js";

async function scenarioOn(t: test.TestContext, label: string, redis: Pick<RedisConnectionOptions, "cluster" | "sentinel">): Promise<void> {
  const keyPrefix = uniquePrefix(`replicas-${label}`);
  const dir = mkdtempSync(path.join(tmpdir(), "mcp-pdp-replicas-"));
  const config = path.join(dir, "pdp.json");
  writeFileSync(config, JSON.stringify({ store: { backend: "redis", redis: { ...redis, keyPrefix } } }));
  try {
    const r = await twoReplicaScenario({ MCP_PDP_CONFIG: config });
    t.diagnostic(`${label}: revocation propagation A → B, ${r.propagationMs.length} runs: ${summary(r.propagationMs)}; allowed after Revoke: ${r.allowedAfterRevoke}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
    const c = await topologyClient(redis);
    await deleteKeysUnder(c, keyPrefix);
    c.disconnect();
  }
}

test("two replicas share sessions and revocations through a Redis Cluster", { timeout: 180_000 }, async (t) => {
  const cluster = await startRedisCluster({ masters: 3, replicasPerMaster: 1 });
  try {
    await scenarioOn(t, "cluster", { cluster: { nodes: cluster.addresses } });
  } finally {
    await cluster.stop();
  }
});

test("two replicas share sessions and revocations through Redis Sentinel", { timeout: 180_000 }, async (t) => {
  const sentinel = await startRedisSentinel();
  try {
    await scenarioOn(t, "sentinel", { sentinel: { sentinels: sentinel.sentinels, name: sentinel.name } });
  } finally {
    await sentinel.stop();
  }
});
