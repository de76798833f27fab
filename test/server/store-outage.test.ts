/**
 * Fail closed, recover by itself: the PDP's Redis goes away (killed, or too slow) and comes back.
 * Uses a private redis-server on a free port, stopped by its own pid — never the shared one.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { createClient } from "../../src/grpc/client.js";
import { Health, HealthCheckResponse_ServingStatus as Serving } from "../../src/gen/grpc/health/v1/health_pb.js";
import { Action, Decision, ReasonCode } from "../../src/gen/mcppdp/v1/common_pb.js";
import { SessionService } from "../../src/gen/mcppdp/v1/session_pb.js";
import { mintDevToken } from "../../src/identity/dev-issuer.js";
import { startTestPdp, type TestPdp } from "../support/pdp.js";
import { PrivateRedis } from "../support/redis.js";

const SERVER = "https://docs.example.com/mcp";
let redis: PrivateRedis;
let pdp: TestPdp;

before(async () => {
  redis = await PrivateRedis.start();
  pdp = await startTestPdp({ store: { backend: "redis", redis: { url: redis.url, keyPrefix: "test:outage:", deadlineMs: 200 } } });
});
after(async () => {
  await pdp.close();
  await redis.kill();
});

async function tokens() {
  return { userToken: await mintDevToken("user", { audience: SERVER }), workloadToken: await mintDevToken("workload") };
}
async function open() {
  const sessions = createClient(SessionService, pdp.address);
  try {
    return await sessions.openSession({ ...(await tokens()), clientId: "dev-client", serverId: SERVER, purpose: "research", tools: ["search_documents"] });
  } finally {
    sessions.close();
  }
}
async function call(sessionId: string) {
  return pdp.authz.authorize({ ...(await tokens()), sessionId, clientId: "dev-client", serverId: SERVER, action: Action.CALL_TOOL, tool: "search_documents", purpose: "research" });
}
async function until<T>(what: string, fn: () => Promise<T>, ok: (v: T) => boolean, ms = 10_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (ok(v)) return v;
    if (Date.now() > end) assert.fail(`${what}: still ${JSON.stringify(v, (_k, x) => (typeof x === "bigint" ? String(x) : x))}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

test("Redis too slow: DENY STORE_UNAVAILABLE within the deadline; when it answers again, the same session works", async () => {
  const s = await open();
  assert.equal(s.decision, Decision.ALLOW, s.message);
  assert.equal((await call(s.sessionId)).decision, Decision.ALLOW);
  redis.pause();
  try {
    const started = Date.now();
    const res = await call(s.sessionId);
    assert.equal(res.decision, Decision.DENY);
    assert.equal(res.reasonCode, ReasonCode.STORE_UNAVAILABLE);
    assert.ok(Date.now() - started < 2000, "answered near the store deadline, not hung");
  } finally {
    redis.resume();
  }
  await until("decisions resume", () => call(s.sessionId), (r) => r.decision === Decision.ALLOW);
});

test("Redis stopped: DENY STORE_UNAVAILABLE, health NOT_SERVING, no crash; restarted: ALLOW again without restarting the PDP", async () => {
  const health = createClient(Health, pdp.address);
  try {
    const s = await open();
    assert.equal((await call(s.sessionId)).decision, Decision.ALLOW);
    await redis.kill();
    const denied = await call(s.sessionId);
    assert.equal(denied.reasonCode, ReasonCode.STORE_UNAVAILABLE);
    const refused = await open();
    assert.equal(refused.decision, Decision.DENY);
    assert.equal(refused.reasonCode, ReasonCode.STORE_UNAVAILABLE);
    await until("health reports the outage", () => health.check({ service: "mcppdp.v1.AuthorizationService" }), (r) => r.status === Serving.NOT_SERVING);
    await redis.restart();
    await until("health recovers", () => health.check({ service: "" }), (r) => r.status === Serving.SERVING);
    // The restarted server kept nothing (no persistence): the old session is gone, a new one works.
    const again = await until("sessions open again", open, (r) => r.decision === Decision.ALLOW);
    assert.equal((await call(again.sessionId)).decision, Decision.ALLOW);
  } finally {
    health.close();
  }
});
