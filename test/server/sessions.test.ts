/**
 * Delegated sessions over gRPC: the same behaviour with the in-memory store and with Redis.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { createClient, type Client } from "../../src/grpc/client.js";
import { AdminService } from "../../src/gen/mcppdp/v1/admin_pb.js";
import { Action, Decision, ReasonCode } from "../../src/gen/mcppdp/v1/common_pb.js";
import { SessionService } from "../../src/gen/mcppdp/v1/session_pb.js";
import { devIdentityConfig, mintDevToken } from "../../src/identity/dev-issuer.js";
import { startJwksServer, type JwksServer } from "../support/jwks-server.js";
import { copyCedar, startTestPdp, trustIdp, type TestPdp } from "../support/pdp.js";
import { REDIS_URL, deleteKeysUnder, testClient, uniquePrefix } from "../support/redis.js";

const SERVER = "https://docs.example.com/mcp";
const OTHER_SERVER = "https://broker.partner.example/mcp";
const AGENT = "spiffe://dev.mcp-pdp.local/agent/research-assistant";
const NOTIFIER = "spiffe://dev.mcp-pdp.local/agent/research-notifier";

for (const backend of ["memory", "redis"] as const) {
  describe(`sessions (${backend} store)`, () => {
    let pdp: TestPdp;
    let idp: JwksServer;
    let sessions: Client<(typeof SessionService)["method"]>;
    let admin: Client<(typeof AdminService)["method"]>;
    const prefix = uniquePrefix(`sessions-${backend}`);

    before(async () => {
      idp = await startJwksServer();
      const dev = devIdentityConfig();
      pdp = await startTestPdp({
        cedarDir: copyCedar((dir) => trustIdp(dir, idp.issuer)),
        identity: { ...dev, userIssuers: [...dev.userIssuers, { issuer: idp.issuer, jwksUri: idp.jwksUri }] },
        ...(backend === "redis" && { store: { backend: "redis", redis: { url: REDIS_URL, keyPrefix: prefix } } }),
      });
      sessions = createClient(SessionService, pdp.address);
      admin = createClient(AdminService, pdp.address);
    });
    after(async () => {
      sessions.close();
      admin.close();
      await pdp.close();
      await idp.close();
      if (backend === "redis") {
        const c = await testClient();
        await deleteKeysUnder(c, prefix);
        c.disconnect();
      }
    });

    const tokens = async (o: { user?: string; agent?: string; client?: string; server?: string; iat?: number } = {}) => ({
      userToken: await mintDevToken("user", {
        audience: o.server ?? SERVER,
        clientId: o.client ?? "dev-client",
        ...(o.user && { subject: o.user }),
        ...(o.iat && { issuedAt: o.iat }),
      }),
      workloadToken: await mintDevToken("workload", { ...(o.agent && { subject: o.agent }), ...(o.iat && { issuedAt: o.iat }) }),
    });
    const open = async (tools: string[], o: Parameters<typeof tokens>[0] & { purpose?: string; ttlSeconds?: number } = {}) =>
      sessions.openSession({
        ...(await tokens(o)),
        clientId: o.client ?? "dev-client",
        serverId: o.server ?? SERVER,
        purpose: o.purpose ?? "research",
        tools,
        ...(o.ttlSeconds !== undefined && { ttl: { seconds: BigInt(o.ttlSeconds) } }),
      });
    const call = async (sessionId: string, tool: string, o: Parameters<typeof tokens>[0] & { purpose?: string } = {}) =>
      pdp.authz.authorize({
        ...(await tokens(o)),
        sessionId,
        clientId: o.client ?? "dev-client",
        serverId: o.server ?? SERVER,
        action: Action.CALL_TOOL,
        tool,
        purpose: o.purpose ?? "research",
      });

    test("OpenSession grants exactly the requested tools that policy permits, with reasons for the rest", async () => {
      const res = await open(["search_documents", "read_document", "deploy_production", "send_message", "no_such_tool"]);
      assert.equal(res.decision, Decision.ALLOW, res.message);
      assert.match(res.sessionId, /^[A-Za-z0-9_-]{43}$/, "a 256-bit base64url handle");
      assert.deepEqual(res.grantedTools, ["search_documents", "read_document"]);
      const refused = Object.fromEntries(res.refused.map((r) => [r.item, r]));
      assert.deepEqual(Object.keys(refused).sort(), ["deploy_production", "no_such_tool", "send_message"]);
      assert.equal(refused.deploy_production!.reasonCode, ReasonCode.POLICY_DENIED);
      assert.deepEqual(refused.deploy_production!.reasons.map((r) => r.policyId), ["production-write-requires-approval", "purpose-production-tools", "tool-required-scopes"]);
      assert.equal(refused.send_message!.reasonCode, ReasonCode.NO_PERMIT);
      const ttl = Number(res.expiresAt!.seconds) * 1000 - Date.now();
      assert.ok(ttl > 890_000 && ttl <= 900_000, `default TTL 15 min, got ${ttl}`);
    });

    test("handles are unique and unguessable", async () => {
      const ids = new Set<string>();
      for (let i = 0; i < 10; i++) ids.add((await open(["search_documents"])).sessionId);
      assert.equal(ids.size, 10);
    });

    test("the requested TTL is capped by the configured maximum", async () => {
      const res = await open(["search_documents"], { ttlSeconds: 3600 });
      assert.equal(res.decision, Decision.ALLOW, res.message);
      const ttl = Number(res.expiresAt!.seconds) * 1000 - Date.now();
      assert.ok(ttl <= 900_000, `capped at 15 min, got ${ttl}`);
      const short = await open(["search_documents"], { ttlSeconds: 60 });
      assert.ok(Number(short.expiresAt!.seconds) * 1000 - Date.now() <= 60_000);
    });

    test("a session for the wrong purpose or an unregistered agent is not opened", async () => {
      const wrong = await open(["search_documents"], { purpose: "marketing" });
      assert.equal(wrong.decision, Decision.DENY);
      assert.equal(wrong.sessionId, "");
      const stranger = await open(["search_documents"], { agent: "spiffe://dev.mcp-pdp.local/agent/stranger" });
      assert.equal(stranger.decision, Decision.DENY);
      assert.equal(stranger.reasonCode, ReasonCode.POLICY_DENIED);
      assert.deepEqual(stranger.reasons.map((r) => r.policyId), ["session-named-workload"]);
    });

    test("Authorize without a handle is SESSION_REQUIRED; an unknown handle SESSION_UNKNOWN", async () => {
      assert.equal((await call("", "search_documents")).reasonCode, ReasonCode.SESSION_REQUIRED);
      assert.equal((await call("x".repeat(43), "search_documents")).reasonCode, ReasonCode.SESSION_UNKNOWN);
      assert.equal((await call("not-a-handle", "search_documents")).reasonCode, ReasonCode.SESSION_UNKNOWN);
    });

    test("a granted tool is ALLOWed and recorded in the session's history; others are TOOL_NOT_GRANTED", async () => {
      const s = await open(["search_documents", "read_document"]);
      const ok = await call(s.sessionId, "search_documents");
      assert.equal(ok.decision, Decision.ALLOW, ok.message);
      assert.equal(ok.sessionExpiresAt?.seconds, s.expiresAt?.seconds);
      assert.equal((await call(s.sessionId, "read_document")).decision, Decision.ALLOW);
      const notGranted = await call(s.sessionId, "deploy_production");
      assert.equal(notGranted.reasonCode, ReasonCode.TOOL_NOT_GRANTED);
      const { session } = await sessions.getSession({ sessionId: s.sessionId });
      assert.equal(session!.callCount, 2n);
      assert.deepEqual(session!.recentTools, ["search_documents", "read_document"]);
      assert.deepEqual(session!.labels, ["sensitive"]);
      assert.equal(session!.agentId, AGENT);
      assert.equal(session!.state, "active");
    });

    test("any bound layer changed alone is CONTEXT_CHANGED with a re-authorize obligation naming it", async () => {
      const s = await open(["search_documents"]);
      const otherIdp = await idp.sign({
        sub: "alice",
        aud: SERVER,
        client_id: "dev-client",
        iat: Math.floor(Date.now() / 1000),
        exp: Math.floor(Date.now() / 1000) + 300,
      });
      const cases: [string, () => Promise<Awaited<ReturnType<typeof call>>>][] = [
        ["user", () => call(s.sessionId, "search_documents", { user: "bob" })],
        ["agent", () => call(s.sessionId, "search_documents", { agent: NOTIFIER })],
        ["client", () => call(s.sessionId, "search_documents", { client: "other-client" })],
        ["server", () => call(s.sessionId, "search_documents", { server: OTHER_SERVER })],
        ["purpose", () => call(s.sessionId, "search_documents", { purpose: "notify" })],
        [
          "idp",
          async () =>
            pdp.authz.authorize({
              ...(await tokens()),
              userToken: otherIdp,
              sessionId: s.sessionId,
              clientId: "dev-client",
              serverId: SERVER,
              action: Action.CALL_TOOL,
              tool: "search_documents",
              purpose: "research",
            }),
        ],
      ];
      for (const [layer, ask] of cases) {
        const res = await ask();
        assert.equal(res.decision, Decision.DENY, layer);
        assert.equal(res.reasonCode, ReasonCode.CONTEXT_CHANGED, `${layer}: ${res.message}`);
        const o = res.obligations[0]?.kind;
        assert.equal(o?.case, "reauthorize", layer);
        assert.equal(o?.value.changed, layer);
      }
      assert.equal((await call(s.sessionId, "search_documents")).decision, Decision.ALLOW, "the bound context still works");
    });

    test("the chain rule: after a sensitive read, an egress tool is denied in the same session", async () => {
      const s = await open(["send_message", "read_document"], { agent: NOTIFIER });
      assert.deepEqual(s.grantedTools, ["send_message", "read_document"]);
      assert.equal((await call(s.sessionId, "send_message", { agent: NOTIFIER })).decision, Decision.ALLOW);
      assert.equal((await call(s.sessionId, "read_document", { agent: NOTIFIER })).decision, Decision.ALLOW);
      const after = await call(s.sessionId, "send_message", { agent: NOTIFIER });
      assert.equal(after.reasonCode, ReasonCode.POLICY_DENIED);
      assert.deepEqual(after.reasons.map((r) => r.policyId), ["chain-sensitive-then-egress"]);
      const fresh = await open(["send_message"], { agent: NOTIFIER });
      assert.equal((await call(fresh.sessionId, "send_message", { agent: NOTIFIER })).decision, Decision.ALLOW, "another session has no such history");
    });

    test("the call budget: the 51st call in a session is denied; concurrent calls are counted exactly", async () => {
      const s = await open(["search_documents"]);
      const results = await Promise.all(Array.from({ length: 50 }, () => call(s.sessionId, "search_documents")));
      assert.equal(results.filter((r) => r.decision === Decision.ALLOW).length, 50);
      const { session } = await sessions.getSession({ sessionId: s.sessionId });
      assert.equal(session!.callCount, 50n, "atomic history append");
      const over = await call(s.sessionId, "search_documents");
      assert.equal(over.reasonCode, ReasonCode.POLICY_DENIED);
      assert.deepEqual(over.reasons.map((r) => r.policyId), ["session-call-budget"]);
    });

    test("EndSession ends trust at once", async () => {
      const s = await open(["search_documents"]);
      assert.equal((await call(s.sessionId, "search_documents")).decision, Decision.ALLOW);
      assert.equal((await sessions.endSession({ sessionId: s.sessionId })).ended, true);
      assert.equal((await call(s.sessionId, "search_documents")).reasonCode, ReasonCode.SESSION_REVOKED);
      assert.equal((await sessions.getSession({ sessionId: s.sessionId })).session!.state, "ended");
    });

    test("a session expires at its TTL", async () => {
      const s = await open(["search_documents"], { ttlSeconds: 1 });
      assert.equal((await call(s.sessionId, "search_documents")).decision, Decision.ALLOW);
      await new Promise((r) => setTimeout(r, 1100));
      assert.equal((await call(s.sessionId, "search_documents")).reasonCode, ReasonCode.SESSION_EXPIRED);
    });

    test("FilterTools shows only tools granted to the session and permitted now", async () => {
      const s = await open(["search_documents"]);
      const res = await pdp.authz.filterTools({
        ...(await tokens()),
        sessionId: s.sessionId,
        clientId: "dev-client",
        serverId: SERVER,
        purpose: "research",
        tools: ["read_document", "search_documents", "deploy_production"],
      });
      assert.deepEqual(res.tools, ["search_documents"]);
      const changed = await pdp.authz.filterTools({
        ...(await tokens({ user: "bob" })),
        sessionId: s.sessionId,
        clientId: "dev-client",
        serverId: SERVER,
        purpose: "research",
        tools: ["search_documents"],
      });
      assert.deepEqual(changed.tools, []);
      assert.equal(changed.reasonCode, ReasonCode.CONTEXT_CHANGED);
    });

    test("Revoke a session", async () => {
      const s = await open(["search_documents"]);
      await admin.revoke({ target: { case: "sessionId", value: s.sessionId } });
      assert.equal((await call(s.sessionId, "search_documents")).reasonCode, ReasonCode.SESSION_REVOKED);
    });

    test("Revoke an agent: its sessions end and its tokens issued before are refused; later tokens work", async () => {
      const agent = NOTIFIER;
      const s = await open(["search_documents"], { agent });
      const res = await admin.revoke({ target: { case: "agentId", value: agent } });
      assert.ok(res.sessionsEnded >= 1n);
      assert.equal((await call(s.sessionId, "search_documents", { agent })).reasonCode, ReasonCode.SESSION_REVOKED);
      const before = await open(["search_documents"], { agent, iat: Math.floor(Date.now() / 1000) - 5 });
      assert.equal(before.decision, Decision.DENY);
      assert.equal(before.reasonCode, ReasonCode.TOKEN_INVALID);
      const later = await open(["search_documents"], { agent, iat: Math.floor(Date.now() / 1000) + 1 });
      assert.equal(later.decision, Decision.ALLOW, later.message);
      const other = await open(["search_documents"]);
      assert.equal(other.decision, Decision.ALLOW, "other agents are untouched");
    });

    test("Revoke a user, a client, a token id", async () => {
      const s = await open(["search_documents"], { user: "carol" });
      await admin.revoke({ target: { case: "user", value: { issuer: "https://dev-issuer.mcp-pdp.invalid", subject: "carol" } } });
      assert.equal((await call(s.sessionId, "search_documents", { user: "carol" })).reasonCode, ReasonCode.SESSION_REVOKED);

      const c = await open(["search_documents"], { client: "revoked-client" });
      await admin.revoke({ target: { case: "clientId", value: "revoked-client" } });
      assert.equal((await call(c.sessionId, "search_documents", { client: "revoked-client" })).reasonCode, ReasonCode.SESSION_REVOKED);

      const t = await open(["search_documents"]);
      const userToken = await mintDevToken("user", { audience: SERVER, jti: `jti-${backend}-1` });
      const ask = async () =>
        pdp.authz.authorize({
          userToken,
          workloadToken: await mintDevToken("workload"),
          sessionId: t.sessionId,
          clientId: "dev-client",
          serverId: SERVER,
          action: Action.CALL_TOOL,
          tool: "search_documents",
          purpose: "research",
        });
      assert.equal((await ask()).decision, Decision.ALLOW);
      await admin.revoke({ target: { case: "tokenId", value: `jti-${backend}-1` } });
      const res = await ask();
      assert.equal(res.reasonCode, ReasonCode.TOKEN_INVALID);
      assert.match(res.message, /revoked/);
    });

    test("one decision record per OpenSession, Authorize, EndSession and Revoke, without tokens", async () => {
      const before = (await pdp.records()).length;
      const t = await tokens();
      const s = await sessions.openSession({ ...t, clientId: "dev-client", serverId: SERVER, purpose: "research", tools: ["search_documents"] });
      await pdp.authz.authorize({ ...t, sessionId: s.sessionId, clientId: "dev-client", serverId: SERVER, action: Action.CALL_TOOL, tool: "search_documents", purpose: "research" });
      await sessions.endSession({ sessionId: s.sessionId });
      await admin.revoke({ target: { case: "sessionId", value: s.sessionId } });
      const mine = (await pdp.records()).slice(before);
      assert.deepEqual(mine.map((r) => r.kind), ["open_session", "authorize", "end_session", "revoke"]);
      assert.ok(mine.every((r) => r.sessionId === s.sessionId));
      const text = JSON.stringify(mine);
      assert.ok(!text.includes(t.userToken.split(".")[2]!) && !text.includes(t.workloadToken.split(".")[2]!));
    });
  });
}

test("a PEP may read or end only its own sessions; Revoke needs an operator", async () => {
  const idp = await startJwksServer();
  const keys = { issuer: idp.issuer, jwksUri: idp.jwksUri };
  const pdp = await startTestPdp({
    mode: "production",
    allowPlaintext: true,
    cedarDir: copyCedar((dir) => trustIdp(dir, idp.issuer)),
    identity: { userIssuers: [keys], workloadIssuers: [{ ...keys, trustDomains: ["dev.mcp-pdp.local"] }], callerIssuers: [keys] },
    operators: ["ops"],
  });
  const sessions = createClient(SessionService, pdp.address);
  const admin = createClient(AdminService, pdp.address);
  try {
    const now = Math.floor(Date.now() / 1000);
    const t = { iat: now, exp: now + 300 };
    const caller = (sub: string) => idp.sign({ ...t, sub, aud: "mcp-pdp" });
    const s = await sessions.openSession(
      {
        userToken: await idp.sign({ ...t, sub: "alice", aud: SERVER, client_id: "c" }),
        workloadToken: await idp.sign({ ...t, sub: AGENT, aud: "mcp-pdp" }),
        clientId: "c",
        serverId: SERVER,
        purpose: "research",
        tools: ["search_documents"],
      },
      { bearer: await caller(SERVER) },
    );
    assert.equal(s.decision, Decision.ALLOW, s.message);
    const denied = (e: grpc.ServiceError) => e.code === grpc.status.PERMISSION_DENIED;
    await assert.rejects(sessions.getSession({ sessionId: s.sessionId }, { bearer: await caller(OTHER_SERVER) }), denied);
    await assert.rejects(sessions.endSession({ sessionId: s.sessionId }, { bearer: await caller(OTHER_SERVER) }), denied);
    await assert.rejects(admin.revoke({ target: { case: "sessionId", value: s.sessionId } }, { bearer: await caller(SERVER) }), denied);
    assert.equal((await sessions.getSession({ sessionId: s.sessionId }, { bearer: await caller(SERVER) })).session?.state, "active");
    await admin.revoke({ target: { case: "sessionId", value: s.sessionId } }, { bearer: await caller("ops") });
    assert.equal((await sessions.getSession({ sessionId: s.sessionId }, { bearer: await caller("ops") })).session?.state, "revoked");
  } finally {
    sessions.close();
    admin.close();
    await pdp.close();
    await idp.close();
  }
});
