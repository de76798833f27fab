/** Human approval and step-up for high-impact calls, on both stores. */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { createClient, type Client } from "../../src/grpc/client.js";
import { ApprovalService, ApprovalState, Verdict } from "../../src/gen/mcppdp/v1/approval_pb.js";
import { Action, Decision, ReasonCode } from "../../src/gen/mcppdp/v1/common_pb.js";
import { SessionService } from "../../src/gen/mcppdp/v1/session_pb.js";
import { mintDevToken } from "../../src/identity/dev-issuer.js";
import { startTestPdp, type TestPdp } from "../support/pdp.js";
import { REDIS_URL, deleteKeysUnder, testClient, uniquePrefix } from "../support/redis.js";

const SERVER = "https://docs.example.com/mcp";
const BOT = "spiffe://dev.mcp-pdp.local/agent/release-bot";

for (const backend of ["memory", "redis"] as const) {
  describe(`approvals (${backend} store)`, () => {
    let pdp: TestPdp;
    let sessions: Client<(typeof SessionService)["method"]>;
    let approvals: Client<(typeof ApprovalService)["method"]>;
    const prefix = uniquePrefix(`approvals-${backend}`);

    before(async () => {
      pdp = await startTestPdp({
        sessions: { approvalTtlSeconds: 2 },
        ...(backend === "redis" && { store: { backend: "redis", redis: { url: REDIS_URL, keyPrefix: prefix } } }),
      });
      sessions = createClient(SessionService, pdp.address);
      approvals = createClient(ApprovalService, pdp.address);
    });
    after(async () => {
      sessions.close();
      approvals.close();
      await pdp.close();
      if (backend === "redis") {
        const c = await testClient();
        await deleteKeysUnder(c, prefix);
        c.disconnect();
      }
    });

    const userToken = (scopes = ["deploy.production"]) => mintDevToken("user", { audience: SERVER, scopes });
    const open = async () => {
      const s = await sessions.openSession({
        userToken: await userToken(),
        workloadToken: await mintDevToken("workload", { subject: BOT }),
        clientId: "dev-client",
        serverId: SERVER,
        purpose: "release",
        tools: ["deploy_production"],
      });
      assert.equal(s.decision, Decision.ALLOW, s.message);
      assert.deepEqual(s.grantedTools, ["deploy_production"], "granted: each call still needs its approval");
      return s.sessionId;
    };
    const deploy = async (sessionId: string, args: Record<string, string> = { version: "1.2.3" }, scopes?: string[]) =>
      pdp.authz.authorize({
        userToken: await userToken(scopes),
        workloadToken: await mintDevToken("workload", { subject: BOT }),
        sessionId,
        clientId: "dev-client",
        serverId: SERVER,
        action: Action.CALL_TOOL,
        tool: "deploy_production",
        arguments: args,
        purpose: "release",
      });
    const approvalOf = (res: Awaited<ReturnType<typeof deploy>>) => {
      assert.equal(res.reasonCode, ReasonCode.APPROVAL_REQUIRED, res.message);
      const o = res.obligations.find((x) => x.kind.case === "approval")?.kind;
      assert.equal(o?.case, "approval");
      assert.ok(o.value.approvalId && o.value.expiresAt);
      return o.value.approvalId;
    };
    const decide = async (approvalId: string, verdict: Verdict, approver = "bob") =>
      approvals.decideApproval({ approvalId, approverToken: await mintDevToken("user", { subject: approver, audience: "mcp-pdp" }), verdict, comment: "ok" });

    test("request → pending → approve → exactly one ALLOW → the same call again needs a new approval", async () => {
      const s = await open();
      const first = await deploy(s);
      // The suite's first session is also a first-seen client (novelty is on by default): its
      // high-risk call needs an approval for that reason too — one approval covers both.
      const why = first.reasons.map((r) => r.policyId);
      assert.ok(why.includes("production-write-requires-approval"), why.join(", "));
      assert.deepEqual(why.filter((p) => p !== "production-write-requires-approval" && p !== "first-seen-client-high-risk-requires-approval"), []);
      const id = approvalOf(first);
      assert.equal(approvalOf(await deploy(s)), id, "asking again while pending names the same approval");
      const listed = await approvals.listApprovals({ state: ApprovalState.PENDING, sessionId: s });
      assert.deepEqual(listed.approvals.map((a) => a.approvalId), [id]);
      assert.equal(listed.approvals[0]!.tool, "deploy_production");
      assert.equal(listed.approvals[0]!.agentId, BOT);
      const decided = await decide(id, Verdict.APPROVE);
      assert.equal(decided.approval?.state, ApprovalState.APPROVED);
      assert.equal(decided.approval?.decidedBy, "https://dev-issuer.mcp-pdp.invalid#bob");
      const ok = await deploy(s);
      assert.equal(ok.decision, Decision.ALLOW, ok.message);
      assert.deepEqual(ok.reasons.map((r) => r.policyId), ["tool-allowlist-release"]);
      const again = await deploy(s);
      assert.equal(again.decision, Decision.DENY);
      assert.notEqual(approvalOf(again), id, "a used approval is never used twice");
      const [used] = (await approvals.listApprovals({ state: ApprovalState.USED, sessionId: s })).approvals;
      assert.equal(used?.approvalId, id);
      await assert.rejects(decide(id, Verdict.APPROVE), (e: grpc.ServiceError) => e.code === grpc.status.INVALID_ARGUMENT);
      const records = (await pdp.records()).filter((r) => r.approvalId === id);
      assert.deepEqual(records.map((r) => `${r.kind}:${r.decision}`), ["authorize:DENY", "authorize:DENY", "decide_approval:ALLOW", "authorize:ALLOW", "decide_approval:DENY"]);
    });

    test("changed arguments, another session, an expired or a rejected approval: DENY APPROVAL_REQUIRED", async () => {
      const s = await open();
      const id = approvalOf(await deploy(s));
      await decide(id, Verdict.APPROVE);
      assert.notEqual(approvalOf(await deploy(s, { version: "6.6.6" })), id, "changed arguments are another call");
      const other = await open();
      assert.notEqual(approvalOf(await deploy(other)), id, "another session is another call");
      assert.equal((await deploy(s)).decision, Decision.ALLOW, "the approved call itself still works once");

      const r = approvalOf(await deploy(s, { version: "2.0.0" }));
      const rejected = await decide(r, Verdict.REJECT);
      assert.equal(rejected.approval?.state, ApprovalState.REJECTED);
      const afterReject = approvalOf(await deploy(s, { version: "2.0.0" }));
      assert.notEqual(afterReject, r);

      const e = approvalOf(await deploy(s, { version: "3.0.0" }));
      await decide(e, Verdict.APPROVE);
      await new Promise((res) => setTimeout(res, 2100));
      const expired = await deploy(s, { version: "3.0.0" });
      assert.notEqual(approvalOf(expired), e, "an expired approval is not used");
      assert.equal((await approvals.listApprovals({ sessionId: s, state: ApprovalState.EXPIRED })).approvals.some((a) => a.approvalId === e), true);
      const events = (await pdp.records()).filter((r) => r.approvalId === e).map((r) => `${r.kind}:${r.decision}`);
      assert.deepEqual(events.sort(), ["approval_expired:DENY", "authorize:DENY", "decide_approval:ALLOW"], "requested, approved and expired are each recorded");
    });

    test("self-approval and approvers outside the group are refused", async () => {
      const s = await open();
      const id = approvalOf(await deploy(s));
      await assert.rejects(decide(id, Verdict.APPROVE, "alice"), (e: grpc.ServiceError) => e.code === grpc.status.PERMISSION_DENIED && /no-self-approval/.test(e.details));
      await assert.rejects(decide(id, Verdict.APPROVE, "carol"), (e: grpc.ServiceError) => e.code === grpc.status.PERMISSION_DENIED && /NO_PERMIT/.test(e.details));
      const stillPending = await approvals.listApprovals({ sessionId: s });
      assert.equal(stillPending.approvals[0]?.state, ApprovalState.PENDING);
      const wrongAudience = await mintDevToken("user", { subject: "bob", audience: SERVER });
      await assert.rejects(approvals.decideApproval({ approvalId: id, approverToken: wrongAudience, verdict: Verdict.APPROVE }), (e: grpc.ServiceError) => e.code === grpc.status.UNAUTHENTICATED);
    });

    test("tools/list shows a tool that needs an approval (calling it asks for one)", async () => {
      const s = await open();
      const res = await pdp.authz.filterTools({
        userToken: await userToken([]),
        workloadToken: await mintDevToken("workload", { subject: BOT }),
        sessionId: s,
        clientId: "dev-client",
        serverId: SERVER,
        purpose: "release",
        tools: ["deploy_production", "search_documents"],
      });
      assert.deepEqual(res.tools, ["deploy_production"]);
    });

    test("two concurrent uses of one approval: exactly one succeeds", async () => {
      const s = await open();
      const id = approvalOf(await deploy(s));
      await decide(id, Verdict.APPROVE);
      const results = await Promise.all(Array.from({ length: 12 }, () => deploy(s)));
      assert.equal(results.filter((r) => r.decision === Decision.ALLOW).length, 1);
      assert.ok(results.filter((r) => r.decision === Decision.DENY).every((r) => r.reasonCode === ReasonCode.APPROVAL_REQUIRED));
    });

    test("a missing scope is INSUFFICIENT_SCOPE naming it (step-up), before any approval is filed", async () => {
      const s = await open();
      const res = await deploy(s, { version: "1" }, ["docs.read"]);
      assert.equal(res.decision, Decision.DENY);
      assert.equal(res.reasonCode, ReasonCode.INSUFFICIENT_SCOPE);
      const o = res.obligations[0]?.kind;
      assert.equal(o?.case, "stepUp");
      assert.deepEqual(o.value.scopes, ["deploy.production"]);
      assert.equal((await approvals.listApprovals({ sessionId: s })).approvals.length, 0);
    });
  });
}
