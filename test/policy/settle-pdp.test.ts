/**
 * Finding 1 of issue 12, through a real PDP with its file watcher (the default settings): a policy
 * file truncated and written back 700 ms later (what many editors and `cp` do) must never be loaded
 * half-done. Each in-between state is valid Cedar, so only settling can tell.
 */
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { createClient } from "../../src/grpc/client.js";
import { AdminService } from "../../src/gen/mcppdp/v1/admin_pb.js";
import { Action, Decision, ReasonCode } from "../../src/gen/mcppdp/v1/common_pb.js";
import { SessionService } from "../../src/gen/mcppdp/v1/session_pb.js";
import { mintDevToken } from "../../src/identity/dev-issuer.js";
import { copyCedar, startTestPdp, type TestPdp } from "../support/pdp.js";

const SERVER = "https://docs.example.com/mcp";

async function rig(pdp: TestPdp) {
  const sessions = createClient(SessionService, pdp.address);
  const tokens = { userToken: await mintDevToken("user", { audience: SERVER, clientId: "dev-client" }), workloadToken: await mintDevToken("workload") };
  const open = async () => {
    const s = await sessions.openSession({ ...tokens, clientId: "dev-client", serverId: SERVER, purpose: "research", tools: ["search_documents"] });
    assert.equal(s.decision, Decision.ALLOW, s.message);
    return s.sessionId;
  };
  const call = (sessionId: string) =>
    pdp.authz.authorize({ ...tokens, sessionId, clientId: "dev-client", serverId: SERVER, action: Action.CALL_TOOL, tool: "search_documents", purpose: "research" });
  return { open, call, close: () => sessions.close() };
}

/** Truncates `file`, writes it back `gapMs` later, and keeps `sample` running until `settleMs` after that. */
async function truncateThenRewrite(file: string, gapMs: number, settleMs: number, sample: () => Promise<void>): Promise<number> {
  const original = readFileSync(file);
  let stop = false;
  let samples = 0;
  const sampler = (async () => {
    while (!stop) {
      await sample();
      samples++;
      await sleep(25);
    }
  })();
  try {
    await sleep(100);
    writeFileSync(file, "");
    await sleep(gapMs);
    writeFileSync(file, original);
    await sleep(settleMs);
  } finally {
    stop = true;
    await sampler;
  }
  return samples;
}

describe("a policy file rewritten in place is never loaded half-done", { timeout: 120_000 }, () => {
  test("session-budget.cedar truncated, written back 700 ms later: the 51st call of a 50-call session is DENY at every moment", async () => {
    const dir = copyCedar();
    const pdp = await startTestPdp({ cedarDir: dir });
    const r = await rig(pdp);
    try {
      const v0 = pdp.app.engine().version;
      const session = await r.open();
      const allowed = await Promise.all(Array.from({ length: 50 }, () => r.call(session)));
      assert.equal(allowed.filter((a) => a.decision === Decision.ALLOW).length, 50);

      const wrong: string[] = [];
      const samples = await truncateThenRewrite(path.join(dir, "policies", "session-budget.cedar"), 700, 3000, async () => {
        const res = await r.call(session);
        const ok = res.decision === Decision.DENY && res.reasonCode === ReasonCode.POLICY_DENIED && res.reasons.some((x) => x.policyId === "session-call-budget");
        if (!ok) wrong.push(`${Decision[res.decision]} ${ReasonCode[res.reasonCode]} ${res.policyVersion}`);
      });
      assert.deepEqual(wrong, [], "every call past the budget is denied by session-call-budget");
      assert.ok(samples >= 10, `sampled ${samples} calls`);
      assert.equal(pdp.app.engine().version, v0, "the rewritten file is the same version");
    } finally {
      r.close();
      await pdp.close();
    }
  });

  test("tool-allowlist.cedar emptied in place and written back: calls keep their ALLOW (no NO_PERMIT window)", async () => {
    const dir = copyCedar();
    const pdp = await startTestPdp({ cedarDir: dir });
    const r = await rig(pdp);
    try {
      let session = await r.open();
      let used = 0;
      const wrong: string[] = [];
      await truncateThenRewrite(path.join(dir, "policies", "tool-allowlist.cedar"), 700, 3000, async () => {
        if (++used > 45) {
          session = await r.open();
          used = 1;
        }
        const res = await r.call(session);
        if (res.decision !== Decision.ALLOW) wrong.push(`${Decision[res.decision]} ${ReasonCode[res.reasonCode]} ${res.policyVersion}`);
      });
      assert.deepEqual(wrong, []);
    } finally {
      r.close();
      await pdp.close();
    }
  });

  test("GetPolicyStatus: a refusal that a later good version superseded says so", async () => {
    const dir = copyCedar();
    const pdp = await startTestPdp({ cedarDir: dir });
    const admin = createClient(AdminService, pdp.address);
    try {
      const file = path.join(dir, "policies", "zz-extra.cedar");
      writeFileSync(file, "permit (principal, action, resource) when { 1 + };");
      assert.equal(pdp.app.reloadPolicies("test").ok, false);
      const refused = (await admin.getPolicyStatus({})).status!;
      assert.match(refused.lastError, /zz-extra\.cedar/);
      assert.equal(refused.lastErrorSuperseded, false);

      writeFileSync(file, '@id("extra")\n@reason("x")\nforbid (principal, action, resource) when { false };\n');
      const ok = pdp.app.reloadPolicies("test");
      assert.ok(ok.ok && ok.changed);
      const s = (await admin.getPolicyStatus({})).status!;
      assert.match(s.lastError, /zz-extra\.cedar/);
      assert.equal(s.lastErrorSuperseded, true);
      assert.equal(s.lastErrorSupersededBy, ok.version);
    } finally {
      admin.close();
      await pdp.close();
    }
  });
});
