/**
 * The whole chain with parts nobody here wrote: the official MCP SDK client, over Streamable
 * HTTP on loopback, to the example docs server guarded by the PEP, asking a real PDP, with real
 * dev-issuer tokens.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { McpError } from "@modelcontextprotocol/sdk/types.js";
import { createClient } from "../../src/grpc/client.js";
import { AdminService } from "../../src/gen/mcppdp/v1/admin_pb.js";
import { META_DECISION, META_TASK_SESSION, type PepDecision } from "../../src/pep/index.js";
import { pepHeaders, taskSessionOf } from "../../examples/docs-server/docs-client.js";
import { NOTIFIER, call, devIdentity, startStack, toolNames, type Stack } from "./support/harness.js";

describe("docs server guarded by the PEP (dev issuer)", () => {
  let stack: Stack;
  before(async () => {
    stack = await startStack();
  });
  after(() => stack.close());

  const ran = (tool: string) => stack.docs.effects.filter((e) => e.kind === "tool" && e.name === tool).length;

  test("allow: a granted, permitted tool runs, and the result names the decision and policy", async () => {
    const client = await stack.connect();
    const before = ran("search_documents");
    const { result, decision } = await call(client, "search_documents", { query: "cedar" });
    assert.equal(result.isError, undefined);
    assert.match((result.content[0] as { text: string }).text, /doc-1: Cedar policy primer/);
    assert.equal(decision.decision, "ALLOW");
    assert.equal(decision.reasonCode, "ALLOWED");
    assert.deepEqual(decision.reasons.map((r) => r.policyId), ["tool-allowlist-research"]);
    assert.match(decision.decisionId, /^[0-9a-f-]{36}$/);
    assert.equal(ran("search_documents"), before + 1);
    const record = (await stack.pdp.records()).find((r) => r.decisionId === decision.decisionId);
    assert.equal(record?.decision, "ALLOW");
    assert.equal(record?.tool, "search_documents");
  });

  test("the user's and the agent's tokens reach the PDP only: the tool handler never sees them", async () => {
    const client = await stack.connect();
    await call(client, "search_documents", { query: "mcp" });
    const effect = stack.docs.effects.at(-1)!;
    assert.equal(effect.name, "search_documents");
    assert.ok(effect.headersSeen.includes("x-task-purpose"), "the handler does see ordinary headers");
    assert.ok(!effect.headersSeen.includes("authorization"), "no Authorization header");
    assert.ok(!effect.headersSeen.includes("x-workload-token"), "no workload token");
    assert.equal(effect.tokenSeen, false, "no token in authInfo");
  });

  test("deny with reason: an unregistered agent is refused with the policy and its @reason; the tool never runs", async () => {
    const client = await stack.connect({ agent: "spiffe://dev.mcp-pdp.local/agent/stranger" });
    const before = ran("search_documents");
    const { result, decision } = await call(client, "search_documents", { query: "cedar" });
    assert.equal(result.isError, true);
    assert.equal(decision.decision, "DENY");
    assert.equal(decision.reasonCode, "POLICY_DENIED");
    assert.deepEqual(decision.reasons.map((r) => r.policyId), ["session-named-workload"]);
    const text = (result.content[0] as { text: string }).text;
    assert.match(text, /^DENY POLICY_DENIED/);
    assert.match(text, /because session-named-workload: only workloads registered by name may open a session/);
    assert.equal(ran("search_documents"), before, "refused: the handler did not run");
  });

  test("deny: a tool outside the agent's allowlist is TOOL_NOT_GRANTED and never runs", async () => {
    const client = await stack.connect();
    const { result, decision } = await call(client, "send_message", { to: "press@example.org", body: "hi" });
    assert.equal(result.isError, true);
    assert.equal(decision.reasonCode, "TOOL_NOT_GRANTED");
    assert.match(decision.message, /refused when the task session opened: NO_PERMIT/);
    assert.equal(ran("send_message"), 0);
  });

  test("tools/list is filtered through FilterTools: each agent sees only what it may call", async () => {
    assert.deepEqual(await toolNames(await stack.connect()), ["search_documents", "read_document"]);
    assert.deepEqual((await toolNames(await stack.connect({ agent: NOTIFIER }))).sort(), ["read_document", "search_documents", "send_message"]);
    assert.deepEqual(await toolNames(await stack.connect({ purpose: "marketing" })), [], "no session, nothing visible");
  });

  test("chain denial: research-notifier reads a sensitive document, then send_message is denied", async () => {
    const client = await stack.connect({ agent: NOTIFIER, taskId: "chain" });
    assert.equal((await call(client, "send_message", { to: "team@example.org", body: "starting" })).decision.decision, "ALLOW");
    assert.equal((await call(client, "read_document", { id: "doc-2" })).decision.decision, "ALLOW");
    const sent = ran("send_message");
    const { result, decision } = await call(client, "send_message", { to: "press@example.org", body: "ACME 1.2bn" });
    assert.equal(result.isError, true);
    assert.equal(decision.reasonCode, "POLICY_DENIED");
    assert.deepEqual(decision.reasons.map((r) => r.policyId), ["chain-sensitive-then-egress"]);
    assert.equal(ran("send_message"), sent, "the egress call never ran");
  });

  test("revocation mid-session: after AdminService.Revoke the task's calls are refused; a new task passes a fresh decision", async () => {
    const client = await stack.connect({ taskId: "revoke-me" });
    const first = await call(client, "search_documents", { query: "cedar" });
    assert.equal(first.decision.decision, "ALLOW");
    const handle = taskSessionOf(first.result)!;
    assert.ok(handle, "the result names its task session");
    const admin = createClient(AdminService, stack.pdp.address);
    try {
      await admin.revoke({ target: { case: "sessionId", value: handle }, reason: "e2e: incident" });
    } finally {
      admin.close();
    }
    const before = ran("search_documents");
    for (let i = 0; i < 2; i++) {
      const { result, decision } = await call(client, "search_documents", { query: "cedar" });
      assert.equal(result.isError, true);
      assert.equal(decision.reasonCode, "SESSION_REVOKED", `call ${i + 1} after the revocation`);
    }
    assert.equal(ran("search_documents"), before);
    const fresh = await call(await stack.connect({ taskId: "after-revoke" }), "search_documents", { query: "cedar" });
    assert.equal(fresh.decision.decision, "ALLOW");
    assert.notEqual(taskSessionOf(fresh.result), handle);
  });

  test("context change: another client presenting the same task handle is CONTEXT_CHANGED, as a tool error", async () => {
    const owner = await stack.connect({ taskId: "ctx" });
    const first = await call(owner, "search_documents", { query: "cedar" });
    const handle = taskSessionOf(first.result)!;
    const intruder = await stack.connect({ client: "other-client", taskSession: handle });
    const { result, decision } = await call(intruder, "search_documents", { query: "cedar" });
    assert.equal(result.isError, true);
    assert.equal(decision.reasonCode, "CONTEXT_CHANGED");
    assert.deepEqual(decision.reauthorize, { changed: "client" });
    assert.match((result.content[0] as { text: string }).text, /the bound client changed: open a new task session/);
    const sameOwner = await stack.connect({ taskSession: handle });
    assert.equal((await call(sameOwner, "search_documents", { query: "cedar" })).decision.decision, "ALLOW", "the bound context still works with the handle");
  });

  test("a refused resources/read is JSON-RPC error -32003 carrying the decision", async () => {
    const client = await stack.connect();
    await assert.rejects(
      () => client.readResource({ uri: "docs://handbook" }),
      (err: unknown) => {
        assert.ok(err instanceof McpError);
        assert.equal(err.code, -32003);
        const d = (err.data as Record<string, unknown>)[META_DECISION] as PepDecision;
        assert.equal(d.decision, "DENY");
        assert.equal(d.reasonCode, "TOOL_NOT_GRANTED");
        return true;
      },
    );
    assert.equal(stack.docs.effects.filter((e) => e.kind === "resource").length, 0);
  });

  test("HTTP: no bearer token is 401 with resource metadata; DELETE ends the task session for its own context only", async () => {
    const init = { jsonrpc: "2.0", id: 1, method: "tools/list", params: {} };
    const anon = await fetch(stack.docs.url, { method: "POST", headers: { "content-type": "application/json", accept: "application/json, text/event-stream" }, body: JSON.stringify(init) });
    assert.equal(anon.status, 401);
    assert.equal(anon.headers.get("www-authenticate"), 'Bearer resource_metadata="https://docs.example.com/.well-known/oauth-protected-resource/mcp"');

    const id = await devIdentity({ taskId: "delete-me" });
    const client = await stack.connect(id);
    const handle = taskSessionOf((await call(client, "search_documents", { query: "x" })).result)!;
    const stranger = await devIdentity({ user: "bob", taskSession: handle });
    assert.equal((await fetch(stack.docs.url, { method: "DELETE", headers: pepHeaders(stranger) })).status, 403, "bob cannot end alice's task");
    assert.equal((await fetch(stack.docs.url, { method: "DELETE", headers: pepHeaders(id) })).status, 204);
    const { decision } = await call(client, "search_documents", { query: "x" });
    assert.equal(decision.decision, "ALLOW", "a later call opens a new task session");
    assert.notEqual(decision.taskSession, handle);
    const ended = await call(await stack.connect({ taskSession: handle }), "search_documents", { query: "x" });
    assert.equal(ended.decision.reasonCode, "SESSION_REVOKED", "the ended handle is dead");
  });

  test("the handle travels in _meta and in the X-Task-Session response header", async () => {
    const id = await devIdentity({ taskId: "header" });
    const res = await fetch(stack.docs.url, {
      method: "POST",
      headers: { ...pepHeaders(id), "content-type": "application/json", accept: "application/json, text/event-stream", "mcp-protocol-version": "2025-11-25" },
      body: JSON.stringify({ jsonrpc: "2.0", id: 7, method: "tools/call", params: { name: "search_documents", arguments: { query: "cedar" } } }),
    });
    assert.equal(res.status, 200);
    const body = (await res.json()) as { result: { _meta: Record<string, unknown> } };
    assert.ok(res.headers.get("x-task-session"));
    assert.equal(body.result._meta[META_TASK_SESSION], res.headers.get("x-task-session"));
  });
});
