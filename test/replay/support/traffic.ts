/**
 * Recorded traffic for the replay tests: two tasks through the transport-neutral core — research on
 * the docs server (the chain rule denies one call; one tool not granted; one bad token) and office
 * work on the workspace server (paths, payments under the cap, over the approval threshold — then
 * approved and used — and over the cap, mail to a refused domain).
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { DEV_PDP_AUDIENCE, mintDevToken } from "../../../src/identity/dev-issuer.js";
import { copyCedar, editJson } from "../../support/pdp.js";
import { ctx, type Rig } from "../../decision/support/core-rig.js";

export const DOCS = "https://docs.example.com/mcp";
export const WORKSPACE = "https://workspace.example.com/mcp";

/** Makes every workspace argument recordable, so that calls of those tools are replayable. */
export function recordAllArguments(dir: string): void {
  editJson(path.join(dir, "definitions", "workspace.json"), (d: any) => {
    d.recordedArguments = { send_payment: ["amount", "currency", "payee", "reference"], read_file: ["path", "max_bytes"], send_mail: ["to", "subject", "body"] };
  });
}

/** A candidate: the bundled set plus one forbid of `tool`. */
export function forbidding(base: (dir: string) => void, server: string, tool: string): string {
  return copyCedar((d) => {
    base(d);
    writeFileSync(
      path.join(d, "policies", "zz-candidate.cedar"),
      `@id("candidate-forbids-${tool}")\n@reason("${tool} is withdrawn")\nforbid (principal, action == Action::"call_tool", resource == Tool::"${server}#${tool}");\n`,
    );
  });
}

/** Traffic of two tasks: research on the docs server (a chain rule denial included), office work with payments. */
export async function traffic(r: Rig): Promise<{ userToken: string; workloadToken: string }> {
  const userToken = await mintDevToken("user", { audience: DOCS });
  const workloadToken = await mintDevToken("workload", { subject: "spiffe://dev.mcp-pdp.local/agent/research-notifier" });
  const who = { userToken, workloadToken, clientId: "dev-client", serverId: DOCS, purpose: "research" };
  const opened = await r.core.openSession({ ...who, tools: ["search_documents", "read_document", "send_message"], resources: [], prompts: [], ttlMs: 0 }, ctx());
  assert.equal(opened.outcome.allow, true, opened.outcome.message);
  const sessionId = opened.value!.session!.id;
  const ask = (tool: string, args: Record<string, unknown> = {}) =>
    r.core.authorize({ ...who, sessionId, action: "tool", tool, resourceUri: "", arguments: args as never }, ctx());
  for (const q of ["a", "b", "c"]) await ask("search_documents", { query: q });
  await ask("send_message", { to: "x" });
  await ask("read_document", { id: "d1" });
  await ask("send_message", { to: "x" }); // the chain rule: sensitive read, then egress
  await ask("deploy_production", {}); // not granted: refused before policy
  await r.core.authorize({ ...who, userToken: "not-a-token", sessionId, action: "tool", tool: "search_documents", resourceUri: "", arguments: {} }, ctx());

  const officeUser = await mintDevToken("user", { audience: WORKSPACE });
  const officeAgent = await mintDevToken("workload", { subject: "spiffe://dev.mcp-pdp.local/agent/office-assistant" });
  const office = { userToken: officeUser, workloadToken: officeAgent, clientId: "dev-client", serverId: WORKSPACE, purpose: "office" };
  const o = await r.core.openSession({ ...office, tools: ["read_file", "send_payment", "send_mail"], resources: [], prompts: [], ttlMs: 0 }, ctx());
  assert.equal(o.outcome.allow, true, o.outcome.message);
  const sid = o.value!.session!.id;
  const call = (tool: string, args: Record<string, unknown>) => r.core.authorize({ ...office, sessionId: sid, action: "tool", tool, resourceUri: "", arguments: args as never }, ctx());
  await call("read_file", { path: "/projects/alpha/plan.md" });
  await call("read_file", { path: "/etc/shadow" });
  await call("send_payment", { amount: 120.25, currency: "EUR", payee: "ACME" });
  const pending = await call("send_payment", { amount: 900, currency: "EUR", payee: "ACME" });
  const approval = pending.outcome.obligations?.find((x) => x.kind === "approval");
  assert.ok(approval && approval.kind === "approval", pending.outcome.message);
  const approverToken = await mintDevToken("user", { subject: "bob", audience: DEV_PDP_AUDIENCE });
  const decided = await r.core.decideApproval({ approvalId: approval.approvalId, verdict: "approved", approverToken, comment: "ok" }, ctx());
  assert.equal(decided.outcome.allow, true, decided.outcome.message);
  const used = await call("send_payment", { amount: 900, currency: "EUR", payee: "ACME" });
  assert.equal(used.outcome.allow, true, used.outcome.message);
  await call("send_payment", { amount: 9000, currency: "EUR", payee: "ACME" });
  await call("send_mail", { to: "eve@attacker.example", subject: "s", body: "b" });
  return { userToken, workloadToken };
}

