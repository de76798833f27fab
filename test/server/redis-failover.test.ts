/**
 * The Redis primary is killed (SIGKILL) under load — Sentinel promotes the replica, or a Cluster
 * replica takes over its master's slots — while a PDP answers a steady loop of OpenSession and
 * Authorize calls. Fail closed throughout: every call that could not reach its state is DENY
 * STORE_UNAVAILABLE (never ALLOW), and with `confirmReplicas: 1` every ALLOW's history append is
 * still in the store after the failover (no ALLOW without state). Prints the failover time: from
 * the kill until operations succeed again (the last failed call).
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createClient } from "../../src/grpc/client.js";
import { Action, Decision, ReasonCode } from "../../src/gen/mcppdp/v1/common_pb.js";
import { SessionService } from "../../src/gen/mcppdp/v1/session_pb.js";
import { mintDevToken } from "../../src/identity/dev-issuer.js";
import { RedisSessionStore } from "../../src/session/redis-session-store.js";
import type { RedisStoreConfig } from "../../src/session/config.js";
import { startTestPdp } from "../support/pdp.js";
import { deleteKeysUnder, uniquePrefix } from "../support/redis.js";
import { startRedisCluster, startRedisSentinel, type RedisSentinelTopology } from "../support/redis-topologies.js";
import { untilServing } from "../support/replica-scenario.js";
import { topologyClient, type TopologyOptions } from "../session/topology-suites.js";

const SERVER = "https://docs.example.com/mcp";
const WORKERS = 4;
/** Calls per session before a worker opens the next (the shipped budget is 50). */
const CALLS_PER_SESSION = 40;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Outcome {
  readonly at: number;
  readonly kind: "open" | "authorize";
  readonly ok: boolean;
  readonly reason: string;
  readonly message: string;
}

interface FailoverResult {
  /** Kill → completion of the last failed call, ms (0 when nothing failed). */
  readonly failoverMs: number;
  readonly outcomes: readonly Outcome[];
  /** Sessions whose store record holds fewer calls than the ALLOWs answered for them. */
  readonly lostAppends: number;
  /** ALLOWs answered for sessions the store no longer knows. */
  readonly allowsOfLostSessions: number;
}

async function failoverUnderLoad(topology: TopologyOptions, kill: () => Promise<void>, extra: Partial<RedisStoreConfig> = {}): Promise<FailoverResult> {
  const keyPrefix = uniquePrefix("failover");
  const pdp = await startTestPdp({ store: { backend: "redis", redis: { ...topology, keyPrefix, ...extra } } });
  const sessions = createClient(SessionService, pdp.address);
  const outcomes: Outcome[] = [];
  const allows = new Map<string, number>();
  let stop = false;
  try {
    await untilServing(pdp.address);
    const t = { userToken: await mintDevToken("user", { audience: SERVER, ttlSeconds: 600 }), workloadToken: await mintDevToken("workload", { ttlSeconds: 600 }) };
    const note = (kind: Outcome["kind"], ok: boolean, reason: string, message = "") => outcomes.push({ at: performance.now(), kind, ok, reason, message });
    const worker = async () => {
      let sid: string | undefined;
      let used = 0;
      while (!stop) {
        if (!sid || used >= CALLS_PER_SESSION) {
          const r = await sessions
            .openSession({ ...t, clientId: "dev-client", serverId: SERVER, purpose: "research", tools: ["search_documents"] })
            .catch((e: Error) => ({ decision: Decision.DENY, reasonCode: -1, sessionId: "", message: e.message }));
          const ok = r.decision === Decision.ALLOW && r.sessionId !== "";
          note("open", ok, r.reasonCode === -1 ? `grpc: ${r.message}` : ReasonCode[r.reasonCode]!);
          if (ok) {
            sid = r.sessionId;
            used = 0;
          } else await sleep(10);
          continue;
        }
        const r = await pdp.authz
          .authorize({ ...t, sessionId: sid, clientId: "dev-client", serverId: SERVER, action: Action.CALL_TOOL, tool: "search_documents", purpose: "research" })
          .catch((e: Error) => ({ decision: Decision.DENY, reasonCode: -1, message: e.message }));
        const ok = r.decision === Decision.ALLOW;
        note("authorize", ok, r.reasonCode === -1 ? "grpc" : ReasonCode[r.reasonCode]!, r.message);
        if (ok) {
          allows.set(sid, (allows.get(sid) ?? 0) + 1);
          used++;
        } else {
          if (r.reasonCode === ReasonCode.SESSION_UNKNOWN) sid = undefined; // lost in the failover: open another
          await sleep(10);
        }
      }
    };
    const running = Array.from({ length: WORKERS }, worker);
    await sleep(1500);
    assert.ok(outcomes.length > 20 && outcomes.every((o) => o.ok), `healthy before the kill: ${JSON.stringify(outcomes.filter((o) => !o.ok).slice(0, 3))}`);
    const killedAt = performance.now();
    await kill();
    // Load goes on until 2 s pass without a failure (bounded).
    const limit = killedAt + 60_000;
    for (;;) {
      await sleep(100);
      const lastFailure = outcomes.findLast((o) => !o.ok)?.at ?? killedAt;
      const since = outcomes.filter((o) => o.at > lastFailure);
      if (performance.now() - Math.max(lastFailure, killedAt) > 2000 && since.length > 20) break;
      if (performance.now() > limit) throw new Error(`operations did not recover within 60 s of the kill: ${JSON.stringify(outcomes.at(-1))}`);
    }
    stop = true;
    await Promise.all(running);
    const lastFailure = outcomes.findLast((o) => !o.ok)?.at;
    // Every ALLOW must be in the state the PDP goes on with.
    const client = await topologyClient(topology);
    let lostAppends = 0;
    let allowsOfLostSessions = 0;
    try {
      const store = new RedisSessionStore({ client, keyPrefix, deadlineMs: 5000 });
      for (const [id, n] of allows) {
        const s = await store.get(id);
        if (!s) allowsOfLostSessions += n;
        else if (s.facts.callCount < n) lostAppends++;
      }
    } finally {
      await deleteKeysUnder(client, keyPrefix).catch(() => {});
      client.disconnect();
    }
    return { failoverMs: lastFailure === undefined ? 0 : Math.max(0, lastFailure - killedAt), outcomes, lostAppends, allowsOfLostSessions };
  } finally {
    stop = true;
    sessions.close();
    await pdp.close();
  }
}

function report(label: string, r: FailoverResult): string {
  const failed = r.outcomes.filter((o) => !o.ok);
  const reasons = new Map<string, number>();
  for (const o of failed) reasons.set(`${o.kind} ${o.reason}`, (reasons.get(`${o.kind} ${o.reason}`) ?? 0) + 1);
  const last = failed.at(-1);
  return (
    `${label}: failover ${(r.failoverMs / 1000).toFixed(2)} s (kill → last failed call); ${r.outcomes.length} calls, ${failed.length} refused ` +
    `(${[...reasons].map(([k, v]) => `${k}: ${v}`).join(", ") || "none"}); sessions missing appends: ${r.lostAppends}; ALLOWs of lost sessions: ${r.allowsOfLostSessions}` +
    (last ? `; last refusal: ${last.kind} ${last.reason} "${last.message}"` : "")
  );
}

/**
 * Kills the Sentinel topology's primary and times how long until Sentinel names another master,
 * and until every other replica follows it (`master_link_status:up` to the new master).
 */
function promotionTimer(topology: RedisSentinelTopology): { kill: () => Promise<void>; seconds: () => Promise<string> } {
  let done: Promise<[number, number | undefined]> | undefined;
  return {
    kill: async () => {
      const from = performance.now();
      await topology.primary.kill();
      done = (async () => {
        const limit = from + 60_000;
        let master = topology.primary.port;
        while ((master = (await topology.masterPort()) ?? master) === topology.primary.port && performance.now() < limit) await sleep(50);
        const promoted = performance.now() - from;
        const others = topology.replicas.filter((r) => r.port !== master);
        if (others.length === 0) return [promoted, undefined];
        const following = async () => {
          for (const r of others) {
            const info = await topology.replicationInfo(r);
            if (!info.includes(`master_port:${master}`) || !info.includes("master_link_status:up")) return false;
          }
          return true;
        };
        while (!(await following()) && performance.now() < limit) await sleep(50);
        return [promoted, performance.now() - from];
      })();
    },
    seconds: async () => {
      if (!done) return "?";
      const [promoted, synced] = await done;
      return `${(promoted / 1000).toFixed(2)} s${synced === undefined ? "" : `, the other replica followed it after ${(synced / 1000).toFixed(2)} s`}`;
    },
  };
}

/** Fail closed: a refused call is DENY STORE_UNAVAILABLE (or OVERLOADED, or a session the store lost), never anything that ALLOWs. */
function assertFailClosed(r: FailoverResult): void {
  const unexpected = r.outcomes.filter((o) => !o.ok && !["STORE_UNAVAILABLE", "OVERLOADED", "SESSION_UNKNOWN"].includes(o.reason));
  assert.deepEqual(unexpected.slice(0, 5), [], "refusals during the failover are store refusals");
}

test("Sentinel: the primary killed under load — fail closed, no ALLOW without state, failover time measured", { timeout: 180_000 }, async (t) => {
  // Two replicas: after the failover one is left to confirm writes (confirmReplicas 1).
  const topology = await startRedisSentinel({ downAfterMs: 1000, replicas: 2 });
  try {
    const promotion = promotionTimer(topology);
    const r = await failoverUnderLoad({ sentinel: { sentinels: topology.sentinels, name: topology.name } }, promotion.kill, { confirmReplicas: 1 });
    t.diagnostic(`${report("sentinel (1 primary + 2 replicas, down-after 1000 ms, confirmReplicas 1)", r)}; Sentinel switched the master after ${await promotion.seconds()}`);
    const master = await topology.masterPort();
    assert.ok(topology.replicas.some((n) => n.port === master), `Sentinel promoted a replica (master now on ${master})`);
    assertFailClosed(r);
    assert.equal(r.lostAppends + r.allowsOfLostSessions, 0, "every ALLOW's append survived the failover");
  } finally {
    await topology.stop();
  }
});

test("Sentinel without confirmReplicas: still fail closed; appends the failover lost are counted", { timeout: 180_000 }, async (t) => {
  const topology = await startRedisSentinel({ downAfterMs: 1000, replicas: 1 });
  try {
    const promotion = promotionTimer(topology);
    const r = await failoverUnderLoad({ sentinel: { sentinels: topology.sentinels, name: topology.name } }, promotion.kill);
    t.diagnostic(`${report("sentinel (1 primary + 1 replica, down-after 1000 ms, asynchronous replication)", r)}; Sentinel switched the master after ${await promotion.seconds()}`);
    assertFailClosed(r);
  } finally {
    await topology.stop();
  }
});

test("Cluster: a master killed under load — fail closed, no ALLOW without state, failover time measured", { timeout: 180_000 }, async (t) => {
  // Two replicas per master: after the failover one is left to confirm writes (confirmReplicas 1).
  const topology = await startRedisCluster({ masters: 3, replicasPerMaster: 2, nodeTimeoutMs: 1000 });
  try {
    const victim = topology.nodes[0]!; // --cluster create makes the first nodes masters
    const r = await failoverUnderLoad({ cluster: { nodes: topology.addresses } }, () => victim.kill(), { confirmReplicas: 1 });
    t.diagnostic(report("cluster (3 masters × 2 replicas, node-timeout 1000 ms, confirmReplicas 1)", r));
    assertFailClosed(r);
    assert.equal(r.lostAppends + r.allowsOfLostSessions, 0, "every ALLOW's append survived the failover");
  } finally {
    await topology.stop();
  }
});
