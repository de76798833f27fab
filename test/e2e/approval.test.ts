/**
 * Issue 6 through the PEP: a production write needs a human approval (APPROVAL_REQUIRED carrying
 * the approval id), an approver approves through ApprovalService.DecideApproval with their own
 * token, the same call then runs exactly once; and a token without the tool's scope gets HTTP 403
 * insufficient_scope (step-up) on the Streamable HTTP transport.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { StreamableHTTPError } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { createClient } from "../../src/grpc/client.js";
import { ApprovalService, Verdict } from "../../src/gen/mcppdp/v1/approval_pb.js";
import { DEV_PDP_AUDIENCE, mintDevToken } from "../../src/identity/dev-issuer.js";
import { pepHeaders } from "../../examples/docs-server/docs-client.js";
import { call, devIdentity, startStack, type As, type Stack } from "./support/harness.js";

const RELEASE_BOT = "spiffe://dev.mcp-pdp.local/agent/release-bot";
const RELEASE: As = { agent: RELEASE_BOT, purpose: "release", scopes: ["deploy.production"] };
let stack: Stack;

before(async () => {
  stack = await startStack();
});
after(() => stack.close());

const deployments = () => stack.docs.effects.filter((e) => e.name === "deploy_production").length;

test("approval: APPROVAL_REQUIRED with an approval id → approved by bob → the same call runs once → the third is denied", async () => {
  const client = await stack.connect({ ...RELEASE, taskId: "release-1.4.2" });
  const first = await call(client, "deploy_production", { version: "1.4.2" });
  assert.equal(first.result.isError, true);
  assert.equal(first.decision.reasonCode, "APPROVAL_REQUIRED", first.decision.message);
  const approvalId = first.decision.approval?.approvalId;
  assert.ok(approvalId, "the tool error carries the approval id");
  assert.match((first.result.content[0] as { text: string }).text, new RegExp(`approval ${approvalId} is pending`));
  assert.equal(deployments(), 0);

  const approvals = createClient(ApprovalService, stack.pdp.address);
  try {
    const approverToken = await mintDevToken("user", { subject: "bob", audience: DEV_PDP_AUDIENCE });
    const decided = await approvals.decideApproval({ approvalId, approverToken, verdict: Verdict.APPROVE, comment: "release 1.4.2, change #42" });
    assert.equal(decided.approval?.approvalId, approvalId);
  } finally {
    approvals.close();
  }

  const second = await call(client, "deploy_production", { version: "1.4.2" });
  assert.equal(second.decision.decision, "ALLOW", second.decision.message);
  assert.equal(second.result.isError, undefined);
  assert.equal(deployments(), 1, "ran exactly once");

  const third = await call(client, "deploy_production", { version: "1.4.2" });
  assert.equal(third.decision.decision, "DENY", "an approval is single-use");
  assert.equal(deployments(), 1);
});

test("step-up: without the tool's scope the call is HTTP 403 insufficient_scope naming the scope and the resource metadata", async () => {
  const id = await devIdentity({ ...RELEASE, scopes: [], taskId: "no-scope" });
  const res = await fetch(stack.docs.url, {
    method: "POST",
    headers: { ...pepHeaders(id), "content-type": "application/json", accept: "application/json, text/event-stream", "mcp-protocol-version": "2025-11-25" },
    body: JSON.stringify({ jsonrpc: "2.0", id: 1, method: "tools/call", params: { name: "deploy_production", arguments: { version: "1.4.3" } } }),
  });
  assert.equal(res.status, 403);
  assert.equal(
    res.headers.get("www-authenticate"),
    'Bearer error="insufficient_scope", scope="deploy.production", resource_metadata="https://docs.example.com/.well-known/oauth-protected-resource/mcp", error_description="the access token lacks a scope this call needs"',
  );
  const body = (await res.json()) as { error: { code: number } };
  assert.equal(body.error.code, -32003);

  // The official client sees the 403 as a transport error (it has no auth provider to step up with).
  const client = await stack.connect({ ...RELEASE, scopes: [], taskId: "no-scope-sdk" });
  await assert.rejects(
    () => client.callTool({ name: "deploy_production", arguments: { version: "1.4.3" } }),
    (err: unknown) => err instanceof StreamableHTTPError && err.code === 403,
  );
  assert.equal(deployments(), 1, "nothing more was deployed");
});
