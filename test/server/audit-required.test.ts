import assert from "node:assert/strict";
import { test } from "node:test";
import type { DecisionRecord } from "../../src/audit/decision-record.js";
import { Action, Decision, ReasonCode } from "../../src/gen/mcppdp/v1/common_pb.js";
import { mintDevToken } from "../../src/identity/dev-issuer.js";
import { startTestPdp } from "../support/pdp.js";

const SERVER = "https://docs.example.com/mcp";

test("audit.required: an ALLOW whose record cannot be stored durably becomes DENY AUDIT_UNAVAILABLE, and that is recorded", async () => {
  let failing = false;
  const stored: DecisionRecord[] = [];
  const flaky = {
    name: "flaky-durable",
    write: async (batch: readonly DecisionRecord[]) => {
      if (failing) throw new Error("disk full");
      stored.push(...batch);
    },
    close: async () => {},
  };
  const pdp = await startTestPdp({ sessions: { required: false }, audit: { required: true, durableTimeoutMs: 300 } }, [{ sink: flaky, required: true }]);
  try {
    const ask = async (tool: string) =>
      pdp.authz.authorize({
        userToken: await mintDevToken("user", { audience: SERVER }),
        workloadToken: await mintDevToken("workload"),
        clientId: "dev-client",
        serverId: SERVER,
        action: Action.CALL_TOOL,
        tool,
        purpose: "research",
      });
    const ok = await ask("search_documents");
    assert.equal(ok.decision, Decision.ALLOW);
    assert.ok(stored.some((r) => r.decisionId === ok.decisionId && r.decision === "ALLOW"), "stored before the ALLOW was answered");

    failing = true;
    const res = await ask("search_documents");
    assert.equal(res.decision, Decision.DENY);
    assert.equal(res.reasonCode, ReasonCode.AUDIT_UNAVAILABLE);
    const denied = await ask("deploy_production");
    assert.equal(denied.reasonCode, ReasonCode.POLICY_DENIED, "a DENY does not wait for the audit");
    const records = await pdp.records();
    const mine = records.filter((r) => r.decisionId === res.decisionId);
    assert.deepEqual(mine.map((r) => [r.decision, r.reasonCode]), [["DENY", "AUDIT_UNAVAILABLE"]], "the outcome actually given is what is recorded");
    assert.ok(!stored.some((r) => r.decisionId === res.decisionId && r.decision === "ALLOW"));
    const stats = pdp.app.audit.stats();
    assert.ok(stats.durableFailures >= 1 && stats.sinks["flaky-durable"]!.failures > 0, "the failure is counted");
  } finally {
    failing = false;
    await pdp.close();
  }
});
