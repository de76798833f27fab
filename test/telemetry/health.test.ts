/**
 * Health: gRPC reflection v1 and v1alpha (listed by `buf curl`), gRPC health and `/readyz`
 * following the readiness model — NOT_SERVING while an identity provider's breaker is open or
 * the store is gone, SERVING again when they return, without restarting the PDP.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import path from "node:path";
import { describe, test } from "node:test";
import { promisify } from "node:util";
import { packageRoot } from "../../src/config/load-config.js";
import { Health, HealthCheckResponse_ServingStatus as Serving } from "../../src/gen/grpc/health/v1/health_pb.js";
import { Action, Decision, ReasonCode } from "../../src/gen/mcppdp/v1/common_pb.js";
import { createClient } from "../../src/grpc/client.js";
import { mintDevToken } from "../../src/identity/dev-issuer.js";
import type { ReadinessReport } from "../../src/telemetry/readiness.js";
import { AGENT_ID, jwksIssuer, workloadIssuer } from "../identity/fixtures.js";
import { startJwksServer } from "../support/jwks-server.js";
import { startTestPdp } from "../support/pdp.js";
import { PrivateRedis } from "../support/redis.js";
import { scrape, serveTelemetry } from "./support.js";

const SERVER = "https://docs.example.com/mcp";
const BUF = path.join(packageRoot, "node_modules", ".bin", "buf");

async function until<T>(what: string, fn: () => Promise<T>, ok: (v: T) => boolean, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (ok(v)) return v;
    if (Date.now() > end) assert.fail(`${what}: still ${JSON.stringify(v)}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function readyz(url: string): Promise<{ status: number; body: ReadinessReport }> {
  const res = await fetch(new URL("/readyz", url), { signal: AbortSignal.timeout(10_000) });
  return { status: res.status, body: (await res.json()) as ReadinessReport };
}

test("buf curl lists the services through reflection v1 and v1alpha", { timeout: 120_000 }, async () => {
  const pdp = await startTestPdp();
  try {
    for (const protocol of ["grpc-v1", "grpc-v1alpha"]) {
      const { stdout } = await promisify(execFile)(
        BUF,
        ["curl", "--protocol", "grpc", "--http2-prior-knowledge", "--reflect-protocol", protocol, "--list-services", `http://${pdp.address}`],
        { timeout: 60_000 },
      );
      const services = stdout.trim().split("\n");
      for (const s of ["mcppdp.v1.AuthorizationService", "mcppdp.v1.SessionService", "mcppdp.v1.AdminService", "mcppdp.v1.ApprovalService", "mcppdp.v1.AuditService", "grpc.health.v1.Health"])
        assert.ok(services.includes(s), `${protocol}: ${s} missing from ${stdout}`);
    }
    // And a method call through reflection alone (no .proto files): grpc.health.v1.Health/Check.
    const { stdout } = await promisify(execFile)(
      BUF,
      ["curl", "--protocol", "grpc", "--http2-prior-knowledge", "--reflect-protocol", "grpc-v1alpha", "--data", '{"service":""}', `http://${pdp.address}/grpc.health.v1.Health/Check`],
      { timeout: 60_000 },
    );
    assert.deepEqual(JSON.parse(stdout), { status: "SERVING" });
  } finally {
    await pdp.close();
  }
});

describe("an identity provider whose JWKS fails", { timeout: 120_000 }, () => {
  test("its breaker opens: health NOT_SERVING, /readyz 503 naming idp, mcp_pdp_idp_up 0; it answers again: SERVING", async () => {
    const jwks = await startJwksServer();
    const pdp = await startTestPdp({
      identity: {
        userIssuers: [jwksIssuer(jwks)],
        workloadIssuers: [workloadIssuer(jwks)],
        jwksFailureThreshold: 1,
        jwksProbeIntervalMs: 100,
        jwksProbeMaxIntervalMs: 200,
        jwksTimeoutMs: 2000,
      },
      sessions: { required: false },
    });
    const http = await serveTelemetry(pdp.app.telemetry.handleRequest);
    const health = createClient(Health, pdp.address);
    try {
      assert.equal((await health.check({ service: "" })).status, Serving.SERVING);
      assert.equal((await readyz(http.url)).status, 200);
      jwks.setMode("error500");
      const now = Math.floor(Date.now() / 1000);
      const userToken = await jwks.sign({ sub: "alice", aud: SERVER, iat: now, exp: now + 300, client_id: "dev-client" });
      const res = await pdp.authz.authorize({
        userToken,
        workloadToken: await jwks.sign({ sub: AGENT_ID, aud: "mcp-pdp", iat: now, exp: now + 300 }),
        clientId: "dev-client",
        serverId: SERVER,
        action: Action.CALL_TOOL,
        tool: "search_documents",
        purpose: "research",
      });
      assert.equal(res.decision, Decision.DENY);
      assert.equal(res.reasonCode, ReasonCode.IDP_UNAVAILABLE);

      await until("health reports the IdP outage", () => health.check({ service: "mcppdp.v1.AuthorizationService" }), (r) => r.status === Serving.NOT_SERVING);
      const down = await readyz(http.url);
      assert.equal(down.status, 503);
      assert.equal(down.body.status, "NOT_SERVING");
      assert.ok(down.body.reasons.includes("idp"), JSON.stringify(down.body));
      assert.equal(down.body.checks.idp.providers[0]!.issuer, jwks.issuer);
      assert.notEqual(down.body.checks.idp.providers[0]!.state, "up");
      assert.match(down.body.checks.idp.providers[0]!.lastError ?? "", /HTTP 500/);
      const metrics = await scrape(http.url);
      assert.equal(metrics.value("mcp_pdp_idp_up", { issuer: jwks.issuer }), 0);
      assert.equal(metrics.value("mcp_pdp_ready"), 0);
      assert.ok(metrics.value("mcp_pdp_idp_fetch_failures_total", { issuer: jwks.issuer }) >= 1);
      assert.equal(metrics.value("mcp_pdp_decisions_total", { kind: "authorize", decision: "DENY", reason_code: "IDP_UNAVAILABLE" }), 1);

      jwks.setMode("serve");
      await until("health recovers by itself (background probe)", () => health.check({ service: "" }), (r) => r.status === Serving.SERVING);
      const up = await readyz(http.url);
      assert.equal(up.status, 200);
      assert.deepEqual(up.body.reasons, []);
      assert.equal((await scrape(http.url)).value("mcp_pdp_idp_up", { issuer: jwks.issuer }), 1);
    } finally {
      health.close();
      await http.close();
      await pdp.close();
      await jwks.close();
    }
  });
});

describe("the store goes away", { timeout: 120_000 }, () => {
  test("Redis killed: health NOT_SERVING, /readyz 503 naming store, store failures counted; restarted: SERVING", async () => {
    const redis = await PrivateRedis.start();
    const pdp = await startTestPdp({ store: { backend: "redis", redis: { url: redis.url, keyPrefix: "test:telemetry-health:", deadlineMs: 200 } }, sessions: { required: false } });
    const http = await serveTelemetry(pdp.app.telemetry.handleRequest);
    const health = createClient(Health, pdp.address);
    const ask = async () =>
      pdp.authz.authorize({
        userToken: await mintDevToken("user", { audience: SERVER }),
        workloadToken: await mintDevToken("workload"),
        clientId: "dev-client",
        serverId: SERVER,
        action: Action.CALL_TOOL,
        tool: "search_documents",
        purpose: "research",
      });
    try {
      await until("ready with Redis", () => readyz(http.url), (r) => r.status === 200);
      assert.equal((await readyz(http.url)).body.checks.store.backend, "redis");
      await redis.kill();
      await until("health reports the outage", () => health.check({ service: "" }), (r) => r.status === Serving.NOT_SERVING);
      const down = await readyz(http.url);
      assert.equal(down.status, 503);
      assert.deepEqual(down.body.reasons, ["store"]);
      assert.equal(down.body.checks.store.ok, false);
      assert.equal((await ask()).reasonCode, ReasonCode.STORE_UNAVAILABLE);
      const metrics = await scrape(http.url);
      assert.equal(metrics.value("mcp_pdp_store_up"), 0);
      assert.ok(metrics.value("mcp_pdp_store_failures_total", { store: "state", operation: "loadForDecision" }) >= 1);
      await redis.restart();
      await until("health recovers", () => health.check({ service: "" }), (r) => r.status === Serving.SERVING);
      assert.equal((await readyz(http.url)).status, 200);
      await until("decisions resume", ask, (r) => r.decision === Decision.ALLOW);
    } finally {
      health.close();
      await http.close();
      await pdp.close();
      await redis.kill();
    }
  });
});
