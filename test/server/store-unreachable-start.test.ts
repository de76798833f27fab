/**
 * Starting while Redis is unreachable: one start message says so (serving, every decision DENY
 * STORE_UNAVAILABLE until the store answers), health is NOT_SERVING for the decision services, the
 * log does not repeat a warning every few seconds, and once Redis answers decisions are served.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createClient } from "../../src/grpc/client.js";
import { Health, HealthCheckResponse_ServingStatus as Serving } from "../../src/gen/grpc/health/v1/health_pb.js";
import { SessionService } from "../../src/gen/mcppdp/v1/session_pb.js";
import { Decision, ReasonCode } from "../../src/gen/mcppdp/v1/common_pb.js";
import { mintDevToken } from "../../src/identity/dev-issuer.js";
import { spawnPdp } from "../support/pdp-process.js";
import { PrivateRedis, freePort } from "../support/redis.js";

const SERVER = "https://docs.example.com/mcp";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("Redis unreachable at start: one message that says what it means, a quiet log, served once Redis answers", { timeout: 120_000 }, async (t) => {
  const port = await freePort();
  const pdp = await spawnPdp({ MCP_PDP_STORE: "redis", MCP_PDP_REDIS_URL: `redis://127.0.0.1:${port}`, MCP_PDP_DECISION_LOG: "off" });
  let redis: PrivateRedis | undefined;
  t.after(async () => {
    pdp.child.kill("SIGKILL");
    await redis?.kill();
  });
  const lines = () => pdp.stderr().split("\n").filter(Boolean);
  const serving = lines().filter((l) => /mcp-pdp serving/.test(l));
  assert.equal(serving.length, 1, pdp.stderr());
  assert.match(serving[0]!, /"msg":"mcp-pdp serving, store unreachable — decisions DENY STORE_UNAVAILABLE until it answers"/);
  assert.match(serving[0]!, /"level":40/, "said as a warning");

  const health = createClient(Health, `127.0.0.1:${pdp.port}`);
  const sessions = createClient(SessionService, `127.0.0.1:${pdp.port}`);
  t.after(() => {
    health.close();
    sessions.close();
  });
  assert.equal((await health.check({ service: "mcppdp.v1.AuthorizationService" })).status, Serving.NOT_SERVING);
  const ids = {
    userToken: await mintDevToken("user", { audience: SERVER }),
    workloadToken: await mintDevToken("workload"),
    clientId: "dev-client",
    serverId: SERVER,
    purpose: "research",
    tools: ["search_documents"],
  };
  const refused = await sessions.openSession(ids);
  assert.equal(refused.decision, Decision.DENY);
  assert.equal(refused.reasonCode, ReasonCode.STORE_UNAVAILABLE);

  // Twelve seconds unreachable: warnings back off instead of repeating every two seconds.
  const before = lines().length;
  await sleep(12_000);
  const warned = lines().slice(before).filter((l) => /"level":(40|50)/.test(l));
  assert.ok(warned.length <= 4, `${warned.length} warnings in 12 s while unreachable:\n${warned.join("\n")}`);

  redis = await PrivateRedis.start({ port });
  let opened = refused;
  for (let i = 0; i < 100 && opened.decision !== Decision.ALLOW; i++) {
    await sleep(200);
    opened = await sessions.openSession(ids);
  }
  assert.equal(opened.decision, Decision.ALLOW, opened.message);
  assert.equal((await health.check({ service: "mcppdp.v1.AuthorizationService" })).status, Serving.SERVING);
  assert.match(pdp.stderr(), /"msg":"store reachable"/);
});
