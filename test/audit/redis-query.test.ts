import { RedisAuditSink } from "../../src/audit/redis-audit-sink.js";
import { deleteKeysUnder, testClient, uniquePrefix } from "../support/redis.js";
import { readerContract } from "./reader-contract.js";

readerContract("redis stream", async () => {
  const client = await testClient();
  const keyPrefix = uniquePrefix("audit-query");
  return {
    sink: new RedisAuditSink({ client, keyPrefix, stream: "decisions" }),
    close: async () => {
      await deleteKeysUnder(client, keyPrefix);
      await client.quit();
    },
  };
});
