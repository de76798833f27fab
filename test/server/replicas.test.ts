/**
 * Two PDP processes sharing one Redis: a session opened on one works on the other; EndSession
 * and Revoke on one are enforced by the other. Prints the measured revocation propagation time.
 * (The same scenario on a Redis Cluster and through Sentinel: replicas-topologies.test.ts.)
 */
import { after, test } from "node:test";
import { REDIS_URL, deleteKeysUnder, testClient, uniquePrefix } from "../support/redis.js";
import { summary, twoReplicaScenario } from "../support/replica-scenario.js";

const prefix = uniquePrefix("replicas");
after(async () => {
  const c = await testClient();
  await deleteKeysUnder(c, prefix);
  c.disconnect();
});

test("two replicas share sessions and revocations through Redis", { timeout: 120_000 }, async () => {
  const r = await twoReplicaScenario({ MCP_PDP_STORE: "redis", MCP_PDP_REDIS_URL: REDIS_URL, MCP_PDP_REDIS_PREFIX: prefix });
  console.log(
    `# revocation propagation (Revoke sent to A → first DENY on B, both round trips included), ${r.propagationMs.length} runs: ` +
      `${summary(r.propagationMs)}; calls on B still allowed after Revoke returned: ${r.allowedAfterRevoke}`,
  );
});
