/**
 * What identifies a call: an approval is bound to the call's arguments by their RFC 8785 digest,
 * so key order and whitespace never need a new approval while values still do; and a
 * `resource_uri` sent with a tool call is seen by the session grant and by policy, never ignored.
 * Driven through the transport-neutral core with real parts (see support/core-rig.ts).
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { DEV_PDP_AUDIENCE, mintDevToken } from "../../src/identity/dev-issuer.js";
import { copyCedar } from "../support/pdp.js";
import { ctx, rig, type Rig } from "./support/core-rig.js";

const SERVER = "https://docs.example.com/mcp";

async function release(r: Rig, resources: string[] = []) {
  const userToken = await mintDevToken("user", { audience: SERVER, scopes: ["deploy.production"] });
  const workloadToken = await mintDevToken("workload", { subject: "spiffe://dev.mcp-pdp.local/agent/release-bot" });
  const who = { userToken, workloadToken, clientId: "dev-client", serverId: SERVER, purpose: "release" };
  const opened = await r.core.openSession({ ...who, tools: ["deploy_production"], resources, prompts: [], ttlMs: 0 }, ctx());
  assert.equal(opened.outcome.allow, true, opened.outcome.message);
  const sessionId = opened.value!.session!.id;
  const deploy = (args: Record<string, string>, resourceUri = "") =>
    r.core.authorize({ ...who, sessionId, action: "tool", tool: "deploy_production", resourceUri, arguments: args }, ctx());
  return { deploy, sessionId };
}

async function approve(r: Rig, approvalId: string) {
  const approverToken = await mintDevToken("user", { subject: "bob", audience: DEV_PDP_AUDIENCE });
  const decided = await r.core.decideApproval({ approvalId, approverToken, verdict: "approved", comment: "ok" }, ctx());
  assert.equal(decided.outcome.allow, true, decided.outcome.message);
}

test("an approval of {env, version} is used by the same call with its keys reordered, never by other values", { timeout: 60_000 }, async () => {
  const r = await rig(copyCedar());
  try {
    const { deploy } = await release(r);
    const first = await deploy({ env: "prod", version: "2" });
    assert.equal(first.outcome.reasonCode, "APPROVAL_REQUIRED", first.outcome.message);
    const approvalId = first.outcome.obligations!.find((o) => o.kind === "approval")!;
    assert.equal(approvalId.kind, "approval");
    await approve(r, approvalId.approvalId);

    const other = await deploy({ version: "3", env: "prod" });
    assert.equal(other.outcome.reasonCode, "APPROVAL_REQUIRED", "another value needs its own approval");

    const reordered = await deploy({ version: "2", env: "prod" });
    assert.equal(reordered.outcome.allow, true, reordered.outcome.message);
    assert.match(reordered.outcome.message, new RegExp(`approval ${approvalId.approvalId}`));

    const again = await deploy({ env: "prod", version: "2" });
    assert.equal(again.outcome.reasonCode, "APPROVAL_REQUIRED", "still single-use");
  } finally {
    await r.close();
  }
});

test("a tool call's resource_uri must be granted with the session, and policy sees it", { timeout: 60_000 }, async () => {
  const granted = "https://docs.example.com/releases/main";
  const frozen = "https://docs.example.com/releases/frozen";
  const dir = copyCedar((d) =>
    writeFileSync(
      path.join(d, "policies", "releases.cedar"),
      [
        `@id("release-branches")\n@reason("release agents may use the release branches")`,
        `permit (principal in AgentGroup::"release-agents", action == Action::"read_resource", resource)`,
        `when { context has resource_uri && context.resource_uri like "https://docs.example.com/releases/*" };`,
        `@id("frozen-release")\n@reason("the frozen release branch is never deployed")`,
        `forbid (principal, action == Action::"call_tool", resource)`,
        `when { context has resource_uri && context.resource_uri == "${frozen}" };`,
      ].join("\n"),
    ),
  );
  const r = await rig(dir);
  try {
    const { deploy } = await release(r, [granted, frozen, "https://docs.example.com/elsewhere"]);
    const ungranted = await deploy({ version: "2" }, "https://docs.example.com/releases/other");
    assert.equal(ungranted.outcome.reasonCode, "TOOL_NOT_GRANTED", ungranted.outcome.message);
    assert.match(ungranted.outcome.message, /resource "https:\/\/docs.example.com\/releases\/other" was not granted/);

    const refused = await deploy({ version: "2" }, frozen);
    assert.equal(refused.outcome.reasonCode, "POLICY_DENIED", refused.outcome.message);
    assert.ok(refused.outcome.reasons.some((x) => x.policyId === "frozen-release"), "policy read context.resource_uri");

    const asked = await deploy({ version: "2" }, granted);
    assert.equal(asked.outcome.reasonCode, "APPROVAL_REQUIRED", asked.outcome.message);
    const record = r.records.find((x) => x.decisionId === asked.decisionId)!;
    assert.equal(record.resourceUri, granted, "the record names the call's resource");
  } finally {
    await r.close();
  }
});
