/**
 * Third-party trust expansion end to end: a real PDP (Redis store, Redis audit stream) over gRPC;
 * a client first seen for the user asks for a high-risk tool (APPROVAL_REQUIRED, policy
 * `first-seen-client-high-risk-requires-approval`); then the operator CLI — `audit query
 * --first-seen` and `trust report` — reads the PDP's audit and names that client, when and by which
 * decision.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { runCli } from "../../src/cli/run-cli.js";
import { Action, Decision, ReasonCode } from "../../src/gen/mcppdp/v1/common_pb.js";
import { SessionService } from "../../src/gen/mcppdp/v1/session_pb.js";
import type { TrustReport } from "../../src/audit/trust-report.js";
import { createClient } from "../../src/grpc/client.js";
import { mintDevToken } from "../../src/identity/dev-issuer.js";
import { startTestPdp } from "../support/pdp.js";
import { REDIS_URL, deleteKeysUnder, testClient, uniquePrefix } from "../support/redis.js";

const SERVER = "https://docs.example.com/mcp";

test("a first-seen client over gRPC: APPROVAL_REQUIRED, then audit query --first-seen and trust report name it", { timeout: 120_000 }, async () => {
  const keyPrefix = uniquePrefix("trust-e2e");
  const pdp = await startTestPdp({ store: { backend: "redis", redis: { url: REDIS_URL, keyPrefix } } });
  const sessions = createClient(SessionService, pdp.address);
  try {
    const userToken = await mintDevToken("user", { audience: SERVER, clientId: "phished-client" });
    const workloadToken = await mintDevToken("workload", { subject: "spiffe://dev.mcp-pdp.local/agent/research-notifier" });
    const who = { userToken, workloadToken, clientId: "phished-client", serverId: SERVER, purpose: "research" };
    const s = await sessions.openSession({ ...who, tools: ["send_message"] });
    assert.equal(s.decision, Decision.ALLOW, s.message);
    const r = await pdp.authz.authorize({ ...who, sessionId: s.sessionId, action: Action.CALL_TOOL, tool: "send_message", arguments: { to: "x", body: "y" } });
    assert.equal(r.reasonCode, ReasonCode.APPROVAL_REQUIRED, r.message);
    await pdp.records(); // flushes the audit

    const out: string[] = [];
    const io = { out: (t: string) => void out.push(t), err: () => {} };
    assert.equal(await runCli(["audit", "query", "--first-seen", "--json", "--address", pdp.address], io), 0);
    const listed = out.join("").trim().split("\n").map((l) => JSON.parse(l) as { decisionId: string; firstSeen: string[] });
    assert.deepEqual(new Set(listed.map((x) => x.decisionId)), new Set([s.decisionId, r.decisionId]));
    assert.ok(listed.every((x) => x.firstSeen.includes("client_for_user")));

    out.length = 0;
    assert.equal(await runCli(["trust", "report", "--since", "1h", "--json", "--address", pdp.address], io), 0);
    const report = JSON.parse(out.join("")) as TrustReport;
    const user = report.subjects.find((x) => x.kind === "user")!;
    assert.equal(user.id, "https://dev-issuer.mcp-pdp.invalid#alice");
    const added = user.added.find((a) => a.relation === "clients")!;
    assert.deepEqual([added.value, added.decisionId, added.kind], ["phished-client", s.decisionId, "client_for_user"]);
    assert.deepEqual(user.start.clients, [], "the client was not there at the window's start");
  } finally {
    sessions.close();
    await pdp.close();
    const c = await testClient();
    await deleteKeysUnder(c, keyPrefix);
    await c.quit();
  }
});
