/**
 * The Redis stores, audit stream and approvals through Redis Sentinel: a primary, its replica and
 * one Sentinel (quorum 1), on free ports in a temporary directory, stopped after the file. The
 * client finds the primary by asking Sentinel, as the PDP does with `store.redis.sentinel`.
 */
import { startRedisSentinel, type RedisSentinelTopology } from "../support/redis-topologies.js";
import { topologySuites } from "./topology-suites.js";

let started: Promise<RedisSentinelTopology> | undefined;
const sentinel = () => (started ??= startRedisSentinel());

topologySuites(
  "redis sentinel",
  async () => {
    const t = await sentinel();
    return { sentinel: { sentinels: t.sentinels, name: t.name } };
  },
  async () => {
    await (await started?.catch(() => undefined))?.stop();
  },
);
