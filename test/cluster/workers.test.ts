/**
 * `workers: 2`: two PDP processes (node cluster) on one port, sharing sessions through Redis.
 * A session opened through one connection is used through others (landing on either worker),
 * SIGHUP reaches the workers, SIGTERM stops everything with status 0; the memory store is refused.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createClient } from "../../src/grpc/client.js";
import { AuthorizationService } from "../../src/gen/mcppdp/v1/authorization_pb.js";
import { Action, Decision } from "../../src/gen/mcppdp/v1/common_pb.js";
import { SessionService } from "../../src/gen/mcppdp/v1/session_pb.js";
import { mintDevToken } from "../../src/identity/dev-issuer.js";
import { spawnPdp } from "../support/pdp-process.js";
import { REDIS_URL, deleteKeysUnder, testClient, uniquePrefix } from "../support/redis.js";

const SERVER = "https://docs.example.com/mcp";

test("two workers share one port and the Redis sessions; SIGHUP and SIGTERM reach them", { timeout: 60_000 }, async (t) => {
  const prefix = uniquePrefix("workers");
  const pdp = await spawnPdp({
    MCP_PDP_WORKERS: "2",
    MCP_PDP_STORE: "redis",
    MCP_PDP_REDIS_URL: REDIS_URL,
    MCP_PDP_REDIS_PREFIX: prefix,
    MCP_PDP_DECISION_LOG: "off",
  });
  t.after(async () => {
    pdp.child.kill("SIGKILL");
    const c = await testClient();
    await deleteKeysUnder(c, prefix);
    c.disconnect();
  });
  // Wait until both workers listen: the primary says so, and each worker logs its own line — a
  // worker's line may reach stderr a little after the primary's (busy machine), so wait for all
  // three, bounded.
  const serving = () => (pdp.stderr().match(/"msg":"mcp-pdp serving"/g) ?? []).length;
  const deadline = Date.now() + 30_000;
  while ((!/mcp-pdp workers serving/.test(pdp.stderr()) || serving() < 2) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  assert.match(pdp.stderr(), /"workers":2,"msg":"mcp-pdp workers serving"/);
  assert.equal(serving(), 2, "two worker processes serve");

  const ids = {
    userToken: await mintDevToken("user", { audience: SERVER }),
    workloadToken: await mintDevToken("workload"),
    clientId: "dev-client",
    serverId: SERVER,
    purpose: "research",
  };
  const opts = { channelOptions: { "grpc.use_local_subchannel_pool": 1 } };
  const sessions = createClient(SessionService, `127.0.0.1:${pdp.port}`, opts);
  const s = await sessions.openSession({ ...ids, tools: ["search_documents"] });
  sessions.close();
  assert.equal(s.decision, Decision.ALLOW);
  // Separate connections are spread over the workers; every one finds the session.
  const clients = Array.from({ length: 4 }, () => createClient(AuthorizationService, `127.0.0.1:${pdp.port}`, opts));
  for (const c of clients) {
    const r = await c.authorize({ ...ids, sessionId: s.sessionId, action: Action.CALL_TOOL, tool: "search_documents" });
    assert.equal(r.decision, Decision.ALLOW, r.message);
  }

  // SIGHUP is forwarded as a policy reload: no worker may die of it (its default action).
  pdp.child.kill("SIGHUP");
  await new Promise((r) => setTimeout(r, 1000));
  assert.doesNotMatch(pdp.stderr(), /worker died|exited before serving/);
  const again = await clients[0]!.authorize({ ...ids, sessionId: s.sessionId, action: Action.CALL_TOOL, tool: "search_documents" });
  assert.equal(again.decision, Decision.ALLOW, again.message);
  clients.forEach((c) => c.close());

  pdp.child.kill("SIGTERM");
  assert.equal(await pdp.exited, 0);
  assert.equal((pdp.stderr().match(/"msg":"mcp-pdp stopped"/g) ?? []).length, 2, "both workers stopped gracefully");
});

test("workers > 1 with the memory store is refused at start (status 2)", async () => {
  await assert.rejects(spawnPdp({ MCP_PDP_WORKERS: "2" }), (err: { code?: unknown; stderr?: string }) => {
    assert.equal(err.code, 2);
    assert.match(err.stderr ?? "", /workers: 2 needs store.backend "redis"/);
    return true;
  });
});
