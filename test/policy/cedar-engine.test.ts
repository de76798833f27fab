// The engine: decisions, reasons, and failing closed.
import assert from "node:assert/strict";
import { appendFileSync, cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { createCedarEngine, decide, FAILED_FORBID, loadPolicySet } from "../../src/policy/index.js";
import type { DecisionInput, PolicyInfo } from "../../src/policy/index.js";

const shipped = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../cedar");
const temps: string[] = [];
after(() => temps.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** The shipped policies plus extra policy text, in a temp dir. */
function shippedPlus(extra: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), "mcp-pdp-engine-"));
  temps.push(dir);
  cpSync(shipped, dir, { recursive: true });
  appendFileSync(path.join(dir, "policies/zz-test.cedar"), extra);
  return dir;
}

const research: DecisionInput = {
  agent: { id: "spiffe://dev.mcp-pdp.local/agent/research-assistant", trustDomain: "dev.mcp-pdp.local" },
  user: { issuer: "https://dev-issuer.mcp-pdp.invalid", subject: "alice", scopes: ["docs.read"] },
  clientId: "dev-client",
  serverId: "https://docs.example.com/mcp",
  idp: "https://dev-issuer.mcp-pdp.invalid",
  action: "call_tool",
  tool: "search_documents",
  purpose: "research",
  agentAttestation: "spiffe",
};
const session = { callCount: 2, tools: ["search_documents"], labels: [], riskTotal: 2 };

const engine = createCedarEngine(loadPolicySet(shipped), { slot: "engine-test-shipped" });

test("an allow carries the permits that applied, with @id and @reason, and the version", () => {
  const d = engine.evaluate(research);
  assert.equal(d.decision, "allow");
  assert.equal(d.outcome, "permit");
  assert.deepEqual(d.reasons, [{ policyId: "tool-allowlist-research", reason: "research agents may call the research tools" }]);
  assert.equal(d.version, engine.version);
  assert.deepEqual(d.errors, []);
});

test("several forbids: all determining reasons, sorted by @id, with their @reason", () => {
  const d = engine.evaluate({
    ...research,
    purpose: "marketing",
    idp: "https://other-issuer.example",
  });
  assert.equal(d.decision, "deny");
  assert.equal(d.outcome, "forbid");
  assert.deepEqual(d.reasons, [
    { policyId: "idp-trust-boundary", reason: "the user token's identity provider is not trusted by this server" },
    { policyId: "purpose-research-tools", reason: 'research tools may be used only for the purpose "research"' },
  ]);
});

test("an erroring forbid denies (fail closed), even though a permit applies", () => {
  const dir = shippedPlus(`
@id("risk-budget-overflows")
@reason("session risk budget exceeded")
forbid (principal, action == Action::"call_tool", resource)
when { context has session && context.session.risk_total + 9223372036854775807 > 100 };
`);
  const e = createCedarEngine(loadPolicySet(dir), { slot: "engine-test-overflow" });
  // Without a session the forbid does not apply and nothing errors: allow.
  assert.equal(e.evaluate(research).decision, "allow");
  // With a session, the addition overflows: the forbid errors, and that must deny.
  const d = e.evaluate({ ...research, session });
  assert.equal(d.decision, "deny");
  assert.equal(d.outcome, "error");
  assert.deepEqual(d.reasons, [{ policyId: "risk-budget-overflows", reason: `${FAILED_FORBID} (session risk budget exceeded)` }]);
  assert.equal(d.errors.length, 1);
  assert.match(d.errors[0] ?? "", /^risk-budget-overflows: integer overflow/);
});

test("an erroring permit is reported but only means that permit did not apply", () => {
  const dir = shippedPlus(`
@id("permit-overflows")
@reason("never applies")
permit (principal, action == Action::"call_tool", resource)
when { context has session && context.session.call_count + 9223372036854775807 > 0 };
`);
  const e = createCedarEngine(loadPolicySet(dir), { slot: "engine-test-permit-overflow" });
  const allowed = e.evaluate({ ...research, session });
  assert.equal(allowed.decision, "allow");
  assert.equal(allowed.outcome, "permit");
  assert.deepEqual(allowed.reasons.map((r) => r.policyId), ["tool-allowlist-research"]);
  assert.match(allowed.errors[0] ?? "", /^permit-overflows: integer overflow/);
  const denied = e.evaluate({ ...research, tool: "send_message", session });
  assert.equal(denied.decision, "deny");
  assert.equal(denied.outcome, "no_permit");
  assert.equal(denied.errors.length, 1);
});

test("a Cedar failure (context that does not fit the schema) is deny/error, never a throw", () => {
  const d = engine.evaluate({ ...research, session: { ...session, callCount: 1.5 } });
  assert.equal(d.decision, "deny");
  assert.equal(d.outcome, "error");
  assert.ok(d.errors.length > 0);
});

test("a malformed input (call_tool without a tool, unknown action) is deny/error, never a throw", () => {
  const { tool: _tool, ...noTool } = research;
  assert.equal(engine.evaluate(noTool).outcome, "error");
  assert.equal(engine.evaluate({ ...research, action: "delete_everything" as never }).outcome, "error");
});

test("decide: a forbid that errors denies even when Cedar's own answer is allow", () => {
  const policies = new Map<string, PolicyInfo>([
    ["policy0", { cedarId: "policy0", id: "p", reason: "permit", effect: "permit", file: "f", line: 1 }],
    ["policy1", { cedarId: "policy1", id: "f", reason: "forbid", effect: "forbid", file: "f", line: 2 }],
  ]);
  const err = { message: "boom", help: null, code: null, url: null, severity: null };
  const d = decide(
    { type: "success", warnings: [], response: { decision: "allow", diagnostics: { reason: ["policy0"], errors: [{ policyId: "policy1", error: err }] } } },
    policies,
    "v",
  );
  assert.equal(d.decision, "deny");
  assert.equal(d.outcome, "error");
  assert.deepEqual(d.errors, ["f: boom"]);
  const unknownPolicy = decide(
    { type: "success", warnings: [], response: { decision: "allow", diagnostics: { reason: ["policy9"], errors: [] } } },
    policies,
    "v",
  );
  assert.equal(unknownPolicy.decision, "deny", "a determining policy we cannot map is not trusted to allow");
});

test("an engine whose preparse slot was taken over denies instead of evaluating another set", () => {
  const loaded = loadPolicySet(shipped);
  const first = createCedarEngine(loaded, { slot: "engine-test-shared" });
  assert.equal(first.evaluate(research).decision, "allow");
  const second = createCedarEngine(loaded, { slot: "engine-test-shared" });
  assert.equal(second.evaluate(research).decision, "allow");
  const d = first.evaluate(research);
  assert.equal(d.decision, "deny");
  assert.equal(d.outcome, "error");
});

test("tool() returns the static facts; status() describes the version", () => {
  assert.deepEqual(engine.tool("https://docs.example.com/mcp", "read_document"), {
    serverId: "https://docs.example.com/mcp",
    name: "read_document",
    risk: 2,
    labels: ["sensitive"],
    impact: "read",
    requiredScopes: [],
  });
  assert.equal(engine.tool("https://docs.example.com/mcp", "nope"), undefined);
  assert.equal(engine.tool("https://other.example/mcp", "read_document"), undefined);
  const s = engine.status();
  assert.equal(s.version, engine.version);
  const dir = new URL("../../cedar/policies/", import.meta.url);
  const ids = readdirSync(dir).reduce((n, f) => n + (readFileSync(new URL(f, dir), "utf8").match(/^@id\(/gm)?.length ?? 0), 0);
  assert.equal(s.policyCount, ids, "one Cedar policy per @id in cedar/policies");
  assert.ok(s.entityCount >= 10);
});
