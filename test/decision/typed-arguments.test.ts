/**
 * Arguments checked before policy and typed for it, through the transport-neutral core with real
 * parts (the shipped cedar/: the workspace server's declared definitions and its policies):
 * a call whose arguments do not conform to the tool's inputSchema — or whose resource-naming
 * argument escapes its root — is DENY INVALID_ARGUMENTS naming the first violation, never
 * evaluated; conforming values reach Cedar typed, so policy decides on them.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { mintDevToken } from "../../src/identity/dev-issuer.js";
import type { JsonObject } from "../../src/decision/types.js";
import { copyCedar } from "../support/pdp.js";
import { ctx, rig, type Rig } from "./support/core-rig.js";

const SERVER = "https://workspace.example.com/mcp";

async function office(r: Rig) {
  const userToken = await mintDevToken("user", { audience: SERVER });
  const workloadToken = await mintDevToken("workload", { subject: "spiffe://dev.mcp-pdp.local/agent/office-assistant" });
  const who = { userToken, workloadToken, clientId: "dev-client", serverId: SERVER, purpose: "office" };
  const opened = await r.core.openSession({ ...who, tools: ["read_file", "send_payment", "send_mail"], resources: [], prompts: [], ttlMs: 0 }, ctx());
  assert.equal(opened.outcome.allow, true, opened.outcome.message);
  assert.deepEqual(opened.value!.session!.grantedTools, ["read_file", "send_payment", "send_mail"]);
  const sessionId = opened.value!.session!.id;
  return (tool: string, args: JsonObject) => r.core.authorize({ ...who, sessionId, action: "tool", tool, resourceUri: "", arguments: args }, ctx());
}

test("values decide: a path under an allowed project, a payment under the cap, a mail to an allowed domain — both ways", { timeout: 60_000 }, async () => {
  const r = await rig(copyCedar());
  try {
    const call = await office(r);
    const cases: [string, JsonObject, string, string?][] = [
      ["read_file", { path: "/projects/alpha/plan.md" }, "ALLOWED"],
      ["read_file", { path: "/etc/shadow" }, "POLICY_DENIED", "files-in-project-folders"],
      ["send_payment", { amount: 120.25, currency: "EUR", payee: "ACME" }, "ALLOWED"],
      ["send_payment", { amount: 900, currency: "EUR", payee: "ACME" }, "APPROVAL_REQUIRED", "payment-approval-above-threshold"],
      ["send_payment", { amount: 9000, currency: "EUR", payee: "ACME" }, "POLICY_DENIED", "payment-cap"],
      ["send_mail", { to: "bob@example.com", subject: "s", body: "b" }, "ALLOWED"],
      ["send_mail", { to: "eve@attacker.example", subject: "s", body: "b" }, "POLICY_DENIED", "mail-allowed-domains"],
    ];
    for (const [tool, args, code, policy] of cases) {
      const d = await call(tool, args);
      assert.equal(d.outcome.reasonCode, code, `${tool} ${JSON.stringify(args)}: ${d.outcome.message}`);
      if (policy) assert.ok(d.outcome.reasons.some((x) => x.policyId === policy), `${tool}: ${policy} decided`);
      // Records keep the arguments' digest; values only of the arguments the definition names.
      const record = r.records.find((x) => x.decisionId === d.decisionId)!;
      assert.match(record.argumentsDigest ?? "", /^[0-9a-f]{64}$/);
      if (tool === "send_payment") assert.deepEqual(record.recordedArguments, { amount: args["amount"], currency: "EUR" }, "amount and currency only, never the payee");
      else assert.equal(record.recordedArguments, undefined);
      const secret = String(args["path"] ?? args["to"] ?? args["payee"]);
      assert.ok(!JSON.stringify(record).includes(secret), `no other argument value in the record: ${secret}`);
    }
  } finally {
    await r.close();
  }
});

test("arguments that do not conform are INVALID_ARGUMENTS naming the first violation, and are recorded as such", { timeout: 60_000 }, async () => {
  const r = await rig(copyCedar());
  try {
    const call = await office(r);
    let deep: JsonObject = { leaf: "x" };
    for (let i = 0; i < 20; i++) deep = { d: deep };
    const cases: [string, JsonObject, string, RegExp][] = [
      ["read_file", { path: "/projects/alpha/../../etc/shadow" }, "INVALID_ARGUMENTS", /arguments\.path must be a canonical path .* reads as \/etc\/shadow/],
      ["read_file", { path: "/projects/alpha/%2e%2e/secret" }, "INVALID_ARGUMENTS", /percent-encoded/],
      ["read_file", { path: "/projects//alpha/a" }, "INVALID_ARGUMENTS", /canonical path/],
      ["read_file", { path: "projects/alpha/a" }, "INVALID_ARGUMENTS", /absolute path/],
      ["read_file", { path: 7 }, "INVALID_ARGUMENTS", /arguments\.path must be string/],
      ["read_file", {}, "INVALID_ARGUMENTS", /arguments\.path is required/],
      ["read_file", { path: "/projects/alpha/a", mode: "rw" }, "INVALID_ARGUMENTS", /does not take: mode/],
      ["send_payment", { amount: 1, currency: "USD", payee: "ACME" }, "INVALID_ARGUMENTS", /arguments\.currency must be one of \["EUR"\]/],
      ["send_payment", { amount: 0.00001, currency: "EUR", payee: "ACME" }, "INVALID_ARGUMENTS", /at most 4 decimal places/],
      ["read_file", { path: "/projects/alpha/a", deep }, "INVALID_REQUEST", /nest deeper than 16 levels/],
      ["read_file", { path: `/projects/alpha/${"a".repeat(64 * 1024)}` }, "INVALID_REQUEST", /larger than 65536 bytes/],
    ];
    for (const [tool, args, code, message] of cases) {
      const d = await call(tool, args);
      assert.equal(d.outcome.allow, false);
      assert.equal(d.outcome.reasonCode, code, `${JSON.stringify(args).slice(0, 80)}: ${d.outcome.message}`);
      assert.match(d.outcome.message, message);
      assert.deepEqual(d.outcome.reasons, [], "never evaluated");
      const record = r.records.find((x) => x.decisionId === d.decisionId)!;
      assert.equal(record.reasonCode, code);
    }
  } finally {
    await r.close();
  }
});
