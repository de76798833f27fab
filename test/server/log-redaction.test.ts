import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { test } from "node:test";
import { createLogger } from "../../src/log.js";

test("the operational logger redacts token fields at the top level and one level down", async () => {
  let out = "";
  const sink = new Writable({
    write(chunk, _e, cb) {
      out += String(chunk);
      cb();
    },
  });
  const logger = createLogger("info", sink);
  const secret = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl";
  logger.info({ user_token: secret, workloadToken: secret, authorization: `Bearer ${secret}` }, "top");
  logger.info({ request: { userToken: secret, workload_token: secret, approver_token: secret, token: secret } }, "nested");
  await new Promise((r) => setImmediate(r));
  assert.equal(out.trim().split("\n").length, 2);
  assert.ok(!out.includes(secret), out);
  assert.ok(!out.includes("c2lnbmF0dXJl"));
  assert.match(out, /\[redacted\]/);
});
