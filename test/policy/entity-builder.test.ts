// The entity slice: minimal, typed ids, ancestor closures, and only what policies read.
import assert from "node:assert/strict";
import { appendFileSync, cpSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { cedarUid, createCedarEngine, createEntityBuilder, loadPolicySet } from "../../src/policy/index.js";
import type { DecisionInput, LoadedPolicySet } from "../../src/policy/index.js";

const shipped = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../cedar");
const temps: string[] = [];
after(() => temps.forEach((d) => rmSync(d, { recursive: true, force: true })));

const input: DecisionInput = {
  agent: { id: "spiffe://dev.mcp-pdp.local/agent/research-assistant", trustDomain: "dev.mcp-pdp.local" },
  user: { issuer: "https://dev-issuer.mcp-pdp.invalid", subject: "alice", scopes: ["docs.read"] },
  clientId: "dev-client",
  serverId: "https://docs.example.com/mcp",
  idp: "https://dev-issuer.mcp-pdp.invalid",
  action: "call_tool",
  tool: "read_document",
  purpose: "research",
  arguments: { id: "doc-1", format: "md" },
  session: { callCount: 1, tools: ["search_documents"], labels: ["sensitive"], riskTotal: 1 },
};

const types = (l: { entities: { uid: unknown }[] }): string[] => l.entities.map((e) => (e.uid as { type: string }).type);

test("the slice for the shipped policies: agent, tool, server — no user, client, IdP or groups", () => {
  const loaded = loadPolicySet(shipped);
  // AgentGroup, ToolSet: policies name AgentGroup::"registered-workloads" and
  // ToolSet::"destructive-reviewed"; groups and sets are never sent (closures are).
  assert.deepEqual([...loaded.readsEntityTypes].sort(), ["AgentGroup", "IdentityProvider", "Server", "ToolSet"]);
  const r = createEntityBuilder(loaded).build(input);
  assert.deepEqual(types(r), ["Agent", "Tool", "Server"]);
  assert.deepEqual(r.principal, cedarUid.agent(input.agent.id));
  assert.deepEqual(r.resource, { type: "Tool", id: "https://docs.example.com/mcp#read_document" });
  assert.deepEqual(r.action, { type: "Action", id: "call_tool" });
  assert.deepEqual(r.entities[0], {
    uid: { type: "Agent", id: input.agent.id },
    attrs: { trust_domain: "dev.mcp-pdp.local" },
    parents: [
      { type: "AgentGroup", id: "registered-workloads" },
      { type: "AgentGroup", id: "research-agents" },
    ],
  });
  assert.deepEqual(r.context, {
    user: { type: "User", id: "https://dev-issuer.mcp-pdp.invalid#alice" },
    client: { type: "Client", id: "dev-client" },
    server: { type: "Server", id: "https://docs.example.com/mcp" },
    idp: { type: "IdentityProvider", id: "https://dev-issuer.mcp-pdp.invalid" },
    purpose: "research",
    scopes: ["docs.read"],
    argument_names: ["id", "format"],
    args: {},
    session: { call_count: 1, tools: ["search_documents"], labels: ["sensitive"], risk_total: 1 },
  });
});

test("open_session: the server is the resource and is sent once", () => {
  const r = createEntityBuilder(loadPolicySet(shipped)).build({ ...input, action: "open_session" });
  assert.deepEqual(r.resource, { type: "Server", id: "https://docs.example.com/mcp" });
  assert.deepEqual(types(r), ["Agent", "Server"]);
});

test("unknown agents are sent with their verified attributes and no parents; unknown tools are left out", () => {
  const r = createEntityBuilder(loadPolicySet(shipped)).build({
    ...input,
    agent: { id: "spiffe://dev.mcp-pdp.local/agent/stranger", trustDomain: "dev.mcp-pdp.local" },
    tool: "drop_database",
  });
  assert.deepEqual(r.entities[0]?.parents, []);
  assert.deepEqual(types(r), ["Agent", "Server"]);
});

test("parents are the ancestor closure, so group entities never need to be sent", () => {
  const fake: LoadedPolicySet = {
    ...loadPolicySet(shipped),
    entities: [
      { uid: { type: "Agent", id: "a" }, attrs: { trust_domain: "t" }, parents: [{ type: "AgentGroup", id: "g1" }] },
      { uid: { type: "AgentGroup", id: "g1" }, attrs: {}, parents: [{ type: "AgentGroup", id: "g2" }] },
      { uid: { type: "AgentGroup", id: "g2" }, attrs: {}, parents: [{ type: "AgentGroup", id: "g1" }, { type: "AgentGroup", id: "g3" }] },
    ],
  };
  const r = createEntityBuilder(fake).build({ ...input, agent: { id: "a", trustDomain: "t" } });
  assert.deepEqual(r.entities[0]?.parents, [
    { type: "AgentGroup", id: "g1" },
    { type: "AgentGroup", id: "g2" },
    { type: "AgentGroup", id: "g3" },
  ]);
});

test("a policy that reads the user makes the user (with its groups) part of the slice, and it works", () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), "mcp-pdp-slice-"));
  temps.push(dir);
  cpSync(shipped, dir, { recursive: true });
  appendFileSync(
    path.join(dir, "policies/zz-users.cedar"),
    `@id("researchers-only")
@reason("only researchers may read documents")
forbid (principal, action == Action::"call_tool", resource == Tool::"https://docs.example.com/mcp#read_document")
unless { context.user in UserGroup::"researchers" };
`,
  );
  const loaded = loadPolicySet(dir);
  assert.ok(loaded.readsEntityTypes.has("User"));
  const r = createEntityBuilder(loaded).build(input);
  assert.deepEqual(types(r), ["Agent", "Tool", "User", "Server"]);
  assert.deepEqual(r.entities[2]?.parents, [{ type: "UserGroup", id: "researchers" }, { type: "UserGroup", id: "approvers" }]);
  const engine = createCedarEngine(loaded, { slot: "slice-test" });
  assert.equal(engine.evaluate(input).decision, "allow");
  const bob = engine.evaluate({ ...input, user: { ...input.user, subject: "bob" } });
  assert.equal(bob.decision, "deny");
  assert.deepEqual(bob.reasons.map((x) => x.policyId), ["researchers-only"]);
});
