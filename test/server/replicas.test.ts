/**
 * Two PDP processes sharing one Redis: a session opened on one works on the other; EndSession
 * and Revoke on one are enforced by the other. Prints the measured revocation propagation time.
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { createClient } from "../../src/grpc/client.js";
import { AdminService } from "../../src/gen/mcppdp/v1/admin_pb.js";
import { AuthorizationService } from "../../src/gen/mcppdp/v1/authorization_pb.js";
import { Action, Decision, ReasonCode } from "../../src/gen/mcppdp/v1/common_pb.js";
import { SessionService } from "../../src/gen/mcppdp/v1/session_pb.js";
import { mintDevToken } from "../../src/identity/dev-issuer.js";
import { spawnPdp, type PdpProcess } from "../support/pdp-process.js";
import { REDIS_URL, deleteKeysUnder, testClient, uniquePrefix } from "../support/redis.js";

const SERVER = "https://docs.example.com/mcp";
const prefix = uniquePrefix("replicas");
const procs: PdpProcess[] = [];
after(async () => {
  for (const p of procs) p.child.kill("SIGKILL");
  const c = await testClient();
  await deleteKeysUnder(c, prefix);
  c.disconnect();
});

test("two replicas share sessions and revocations through Redis", { timeout: 120_000 }, async () => {
  const env = { MCP_PDP_STORE: "redis", MCP_PDP_REDIS_URL: REDIS_URL, MCP_PDP_REDIS_PREFIX: prefix, MCP_PDP_DECISION_LOG: "off" };
  const [a, b] = await Promise.all([spawnPdp(env), spawnPdp(env)]);
  procs.push(a!, b!);
  const at = (p: PdpProcess) => `127.0.0.1:${p.port}`;
  const sessionsA = createClient(SessionService, at(a!));
  const adminA = createClient(AdminService, at(a!));
  const authzB = createClient(AuthorizationService, at(b!));
  const t = { userToken: await mintDevToken("user", { audience: SERVER }), workloadToken: await mintDevToken("workload") };
  const open = () => sessionsA.openSession({ ...t, clientId: "dev-client", serverId: SERVER, purpose: "research", tools: ["search_documents"] });
  const callB = (sessionId: string) =>
    authzB.authorize({ ...t, sessionId, clientId: "dev-client", serverId: SERVER, action: Action.CALL_TOOL, tool: "search_documents", purpose: "research" });
  try {
    const ended = await open();
    assert.equal((await callB(ended.sessionId)).decision, Decision.ALLOW, "a session opened on A works on B");
    await sessionsA.endSession({ sessionId: ended.sessionId });
    assert.equal((await callB(ended.sessionId)).reasonCode, ReasonCode.SESSION_REVOKED, "EndSession on A is enforced by B");

    const samples: number[] = [];
    let extraCalls = 0;
    for (let i = 0; i < 20; i++) {
      const s = await open();
      assert.equal((await callB(s.sessionId)).decision, Decision.ALLOW);
      const started = process.hrtime.bigint();
      await adminA.revoke({ target: { case: "sessionId", value: s.sessionId } });
      let denied = false;
      for (let tries = 0; tries < 1000 && !denied; tries++) {
        denied = (await callB(s.sessionId)).reasonCode === ReasonCode.SESSION_REVOKED;
        if (!denied) extraCalls++;
      }
      assert.ok(denied, "B never denied the revoked session");
      samples.push(Number(process.hrtime.bigint() - started) / 1e6);
    }
    samples.sort((x, y) => x - y);
    const p = (q: number) => samples[Math.min(samples.length - 1, Math.floor(q * samples.length))]!.toFixed(2);
    console.log(
      `# revocation propagation (Revoke sent to A → first DENY on B, both round trips included), ${samples.length} runs: ` +
        `p50 ${p(0.5)} ms, max ${p(1)} ms; calls on B still allowed after Revoke returned: ${extraCalls}`,
    );
    assert.equal(extraCalls, 0, "the first call on B after Revoke returns is denied");

    const agent = "spiffe://dev.mcp-pdp.local/agent/research-notifier";
    const wt = await mintDevToken("workload", { subject: agent, issuedAt: Math.floor(Date.now() / 1000) - 2 });
    const s = await sessionsA.openSession({ ...t, workloadToken: wt, clientId: "dev-client", serverId: SERVER, purpose: "research", tools: ["search_documents"] });
    const ask = () => authzB.authorize({ ...t, workloadToken: wt, sessionId: s.sessionId, clientId: "dev-client", serverId: SERVER, action: Action.CALL_TOOL, tool: "search_documents", purpose: "research" });
    assert.equal((await ask()).decision, Decision.ALLOW);
    await adminA.revoke({ target: { case: "agentId", value: agent } });
    assert.equal((await ask()).reasonCode, ReasonCode.SESSION_REVOKED, "an agent revoked on A is refused by B");
  } finally {
    sessionsA.close();
    adminA.close();
    authzB.close();
  }
  for (const p of [a!, b!]) {
    p.child.kill("SIGTERM");
    assert.equal(await p.exited, 0);
  }
});
