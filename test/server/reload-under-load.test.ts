/**
 * Hot reload through the real service: Authorize calls keep coming while the policy set flips
 * between two versions that decide differently. Every answer must come from one whole version:
 * its policy_version tells which, and the outcome must be that version's.
 */
import assert from "node:assert/strict";
import { appendFileSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { createClient } from "../../src/grpc/client.js";
import { AdminService } from "../../src/gen/mcppdp/v1/admin_pb.js";
import { Action, Decision, ReasonCode } from "../../src/gen/mcppdp/v1/common_pb.js";
import { mintDevToken } from "../../src/identity/dev-issuer.js";
import { copyCedar, startTestPdp } from "../support/pdp.js";

const SERVER = "https://docs.example.com/mcp";

test("reload under load: thousands of Authorize calls while the set flips; each answer is one whole version's", { timeout: 300_000 }, async () => {
  const dir = copyCedar();
  const file = path.join(dir, "policies", "tool-allowlist.cedar");
  const original = readFileSync(file, "utf8");
  const forbid = `${original}\n@id("flip-forbid")\n@reason("search is switched off")\nforbid (principal, action == Action::"call_tool", resource) when { resource.name == "search_documents" };\n`;
  // The watcher sees the flipper's writes too; on a saturated machine they can go on past the
  // settle timeout, and its refusal would then race the explicit one this test checks below.
  const pdp = await startTestPdp({ cedarDir: dir, sessions: { required: false }, policies: { settleTimeoutMs: 600_000 } });
  const admin = createClient(AdminService, pdp.address);
  try {
    const allowVersion = pdp.app.engine().version;
    writeFileSync(file, forbid);
    assert.equal(pdp.app.reloadPolicies("test").ok, true);
    const denyVersion = pdp.app.engine().version;
    assert.notEqual(allowVersion, denyVersion);

    const userToken = await mintDevToken("user", { audience: SERVER });
    const workloadToken = await mintDevToken("workload");
    // Sixteen callers keep asking until the set has flipped at least ten times and each has made
    // fifty calls — bounded by work, not by time, so a busy machine makes the test slower, not red.
    let stop = false;
    let flips = 0;
    const flipper = (async () => {
      while (!stop) {
        writeFileSync(file, flips % 2 === 0 ? original : forbid);
        const r = pdp.app.reloadPolicies("test");
        assert.equal(r.ok, true);
        flips++;
        await new Promise((res) => setTimeout(res, 20));
      }
    })();
    const seen = { allow: 0, deny: 0 };
    const wrong: string[] = [];
    await Promise.all(
      Array.from({ length: 16 }, async () => {
        for (let i = 0; i < 50 || (flips < 10 && i < 2000); i++) {
          // A generous deadline: what is checked is which version answered, not how fast.
          const res = await pdp.authz.authorize(
            { userToken, workloadToken, clientId: "dev-client", serverId: SERVER, action: Action.CALL_TOOL, tool: "search_documents", purpose: "research" },
            { timeoutMs: 60_000 },
          );
          if (res.policyVersion === allowVersion && res.decision === Decision.ALLOW && res.reasonCode === ReasonCode.ALLOWED) seen.allow++;
          else if (res.policyVersion === denyVersion && res.reasonCode === ReasonCode.POLICY_DENIED && res.reasons.map((r) => r.policyId).join() === "flip-forbid") seen.deny++;
          else wrong.push(`${res.policyVersion} ${ReasonCode[res.reasonCode]} ${res.reasons.map((r) => r.policyId)}`);
        }
      }),
    );
    stop = true;
    await flipper;
    assert.deepEqual(wrong.slice(0, 5), []);
    assert.ok(flips >= 10 && seen.allow > 0 && seen.deny > 0, `flips ${flips}, ${JSON.stringify(seen)}`);

    // A broken version is refused: the last good one keeps deciding, and status says why.
    appendFileSync(file, "\n@id(\"broken\")\n@reason(\"x\")\npermit (principal, action, resource) when { resource.riks > 1 };\n");
    const refused = pdp.app.reloadPolicies("test");
    assert.equal(refused.ok, false);
    const status = (await admin.getPolicyStatus({})).status!;
    assert.match(status.lastError, /tool-allowlist\.cedar:\d+ \[broken\]/);
    const still = await pdp.authz.authorize({ userToken, workloadToken, clientId: "dev-client", serverId: SERVER, action: Action.CALL_TOOL, tool: "search_documents", purpose: "research" });
    assert.equal(still.policyVersion, status.version);
    assert.ok([allowVersion, denyVersion].includes(still.policyVersion));
  } finally {
    admin.close();
    await pdp.close();
  }
});
