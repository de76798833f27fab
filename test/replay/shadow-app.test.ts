/**
 * Shadow mode in the running PDP (startApp, real gRPC on 127.0.0.1:0): `policies.shadowDir` set to
 * an empty directory (off); copying a candidate into it and reloading turns shadow on — the
 * answers stay the same, the record carries the disagreement, `QueryDecisions` with
 * `shadow_disagrees` (the wire's field 16) finds exactly those records, the record's
 * `replay_facts` and `shadow` are on the wire — and emptying it and reloading turns shadow off.
 */
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { AuditService } from "../../src/gen/mcppdp/v1/audit_pb.js";
import { Action, Decision, ReasonCode } from "../../src/gen/mcppdp/v1/common_pb.js";
import { createClient } from "../../src/grpc/client.js";
import { mintDevToken } from "../../src/identity/dev-issuer.js";
import { copyCedar, startTestPdp } from "../support/pdp.js";

const SERVER = "https://docs.example.com/mcp";

test("shadow in the running PDP: on and off by reload, answers unchanged, disagreements on the wire and queryable", { timeout: 120_000 }, async () => {
  const shadowDir = mkdtempSync(path.join(tmpdir(), "mcp-pdp-shadow-app-"));
  const pdp = await startTestPdp({ sessions: { required: false }, audit: { sinks: ["memory"] }, policies: { shadowDir } });
  const audit = createClient(AuditService, pdp.address);
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
    assert.equal(pdp.app.shadow?.status().on, false, "an empty shadow directory: off");
    const before = await ask("search_documents");
    assert.equal(before.decision, Decision.ALLOW);

    cpSync(copyCedar(), shadowDir, { recursive: true });
    writeFileSync(path.join(shadowDir, "policies", "zz-candidate.cedar"), `@id("candidate-forbids-search")\n@reason("withdrawn")\nforbid (principal, action == Action::"call_tool", resource == Tool::"${SERVER}#search_documents");\n`);
    pdp.app.reloadPolicies("test");
    assert.equal(pdp.app.shadow?.status().on, true, pdp.app.shadow?.status().lastError);
    const search = await ask("search_documents");
    const read = await ask("read_document");
    assert.equal(search.decision, Decision.ALLOW, "the live answer never changes");
    assert.equal(read.decision, Decision.ALLOW);

    const page = await audit.queryDecisions({ shadowDisagrees: true, pageSize: 100 });
    assert.deepEqual(page.records.map((r) => r.decisionId), [search.decisionId]);
    const m = page.records[0]!;
    assert.equal(m.shadow?.decision, Decision.DENY);
    assert.equal(m.shadow?.reasonCode, ReasonCode.POLICY_DENIED);
    assert.deepEqual(m.shadow?.policies, ["candidate-forbids-search"]);
    assert.equal(m.shadow?.policyVersion, pdp.app.shadow?.status().version);
    assert.equal(JSON.parse(m.replayFacts).input.tool, "search_documents");
    assert.ok(!m.replayFacts.includes("eyJ"), "no token in the replay facts");

    for (const f of readdirSync(shadowDir)) rmSync(path.join(shadowDir, f), { recursive: true, force: true });
    pdp.app.reloadPolicies("test");
    assert.equal(pdp.app.shadow?.status().on, false, "emptied: off");
    const after = await ask("search_documents");
    const records = await pdp.records();
    assert.equal(records.find((r) => r.decisionId === after.decisionId)?.shadow, undefined);
    assert.equal(records.find((r) => r.decisionId === before.decisionId)?.shadow, undefined);
  } finally {
    audit.close();
    await pdp.close();
  }
});
