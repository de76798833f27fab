export { createRedisConnection } from "./connection.js";
export type { RedisClient, RedisConnectionOptions, RedisClusterOptions, RedisSentinelOptions, RedisNodeAddress } from "./connection.js";
export { redisGuard, loopLagToleranceMs } from "./deadline.js";
export { RedisScript, replicaConfirmation } from "./script.js";
export type { ReplicaConfirmation, ScriptClient } from "./script.js";
export { DEFAULT_KEY_PREFIX, checkKeyPrefix } from "./keys.js";
export { pipelineResults } from "./pipeline-results.js";
