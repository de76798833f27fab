/**
 * The AuthZEN 1.0 door over real HTTP on loopback: requests adapted from the specification's
 * examples (its `alice@example.com` reading documents becomes our user calling MCP tools), the
 * evaluations semantics, the transport errors the binding describes (400 with a reason, 413, 415,
 * 401 — never a 500), tokens verified exactly as over gRPC (the same decision, reason and record
 * for the same question), and claims-only requests refused.
 */
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import type { DecisionRecord } from "../../src/audit/decision-record.js";
import { AdminService } from "../../src/gen/mcppdp/v1/admin_pb.js";
import { Action, Decision, ReasonCode } from "../../src/gen/mcppdp/v1/common_pb.js";
import { createClient } from "../../src/grpc/client.js";
import { mintDevToken } from "../../src/identity/dev-issuer.js";
import { makeCertificates } from "../support/certificates.js";
import { startJwksServer, type JwksServer } from "../support/jwks-server.js";
import { addAgent, copyCedar, startTestPdp, trustIdp, type TestPdp } from "../support/pdp.js";

const SERVER = "https://docs.example.com/mcp";
const BOT = "spiffe://dev.mcp-pdp.local/agent/release-bot";
const JSON_TYPE = { "content-type": "application/json" };

interface Answer {
  readonly status: number;
  readonly headers: Headers;
  readonly body: any;
}

async function call(base: string, path: string, body: unknown, headers: Record<string, string> = {}, method = "POST"): Promise<Answer> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: { ...JSON_TYPE, ...headers },
    ...(body !== undefined && { body: typeof body === "string" ? body : JSON.stringify(body) }),
    signal: AbortSignal.timeout(30_000),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, body: text ? JSON.parse(text) : undefined };
}

/** The facts of a record that do not differ between two identical questions. */
function facts(r: DecisionRecord): Partial<DecisionRecord> {
  const { time: _t, decisionId: _d, latencyUs: _l, ...rest } = r;
  return rest;
}

describe("AuthZEN over HTTP (development mode, bundled policies, dev issuer)", () => {
  let pdp: TestPdp;
  let base: string;
  let userToken: string;
  let workloadToken: string;
  /** The user (subject) and the context every question of the COAZ-MCP mapping carries. */
  const subject = () => ({ type: "identity", id: "alice", properties: { token: userToken } });
  const ctx = (extra: Record<string, unknown> = {}) => ({ agent: "dev-client", server_id: SERVER, purpose: "research", workload_token: workloadToken, ...extra });
  const toolCall = (tool: string, extra: Record<string, unknown> = {}) => ({
    subject: subject(),
    action: { name: "tools/call" },
    resource: { type: "tool", id: tool },
    context: ctx(),
    ...extra,
  });
  const evaluation = (body: unknown, headers?: Record<string, string>) => call(base, "/access/v1/evaluation", body, headers);
  const evaluations = (body: unknown) => call(base, "/access/v1/evaluations", body);
  const recordCount = async () => (await pdp.records()).length;

  before(async () => {
    pdp = await startTestPdp({ sessions: { required: false } });
    assert.ok(pdp.app.httpPort, "HTTP is on by default in development mode");
    base = `http://127.0.0.1:${pdp.app.httpPort}`;
    userToken = await mintDevToken("user", { audience: SERVER });
    workloadToken = await mintDevToken("workload");
  });
  after(() => pdp.close());

  test("the metadata names the endpoints and the obligation types", async () => {
    const res = await call(base, "/.well-known/authzen-configuration", undefined, {}, "GET");
    assert.equal(res.status, 200);
    assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
    assert.deepEqual(res.body, {
      policy_decision_point: base,
      access_evaluation_endpoint: `${base}/access/v1/evaluation`,
      access_evaluations_endpoint: `${base}/access/v1/evaluations`,
      supported_obligations: ["custom"],
    });
    assert.equal(res.headers.get("cache-control"), "max-age=300", "metadata may be cached; decisions may not");
  });

  test("Access Evaluation: a permitted tool call is decision true, with its evaluation id and permitting policy; X-Request-ID echoed", async () => {
    const before = await recordCount();
    const res = await evaluation(toolCall("search_documents"), { "x-request-id": "bfe9eb29-ab87-4ca3-be83-a1d5d8305716" });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("x-request-id"), "bfe9eb29-ab87-4ca3-be83-a1d5d8305716");
    assert.equal(res.headers.get("cache-control"), "no-store");
    assert.equal(res.body.decision, true, res.body.context?.message);
    assert.equal(res.body.context.reason_code, "ALLOWED");
    assert.ok(res.body.context.reasons.some((r: any) => r.policy_id === "tool-allowlist-research" && r.reason.length > 0));
    assert.equal(res.body.context.policy_version, pdp.app.engine().version);
    const records = await pdp.records();
    assert.equal(records.length, before + 1, "one evaluation, one record");
    const record = records.at(-1)!;
    assert.equal(record.decisionId, res.body.context.evaluation_id);
    assert.equal(record.decision, "ALLOW");
    assert.equal(record.tool, "search_documents");
    assert.equal(record.userSubject, "alice");
    assert.ok(!JSON.stringify(records).includes(userToken) && !JSON.stringify(records).includes(workloadToken), "tokens are never recorded");
  });

  test("a forbid is decision false with the reason code and the forbidding policies in context", async () => {
    const res = await evaluation(toolCall("deploy_production"));
    assert.equal(res.status, 200, "a deny is a 200, not an HTTP error");
    assert.equal(res.body.decision, false);
    assert.equal(res.body.context.reason_code, "POLICY_DENIED");
    assert.deepEqual(
      res.body.context.reasons.map((r: any) => r.policy_id),
      ["production-write-requires-approval", "purpose-production-tools", "tool-required-scopes"],
    );
  });

  test("Access Evaluations with top-level defaults: execute_all runs every evaluation, in order", async () => {
    const before = await recordCount();
    const res = await evaluations({
      subject: subject(),
      action: { name: "tools/call" },
      context: ctx(),
      options: { evaluations_semantic: "execute_all" },
      evaluations: [{ resource: { type: "tool", id: "search_documents" } }, { resource: { type: "tool", id: "send_message" } }, { resource: { type: "tool", id: "search_documents" } }],
    });
    assert.equal(res.status, 200);
    assert.deepEqual(
      res.body.evaluations.map((d: any) => [d.decision, d.context.reason_code]),
      [
        [true, "ALLOWED"],
        [false, "NO_PERMIT"],
        [true, "ALLOWED"],
      ],
    );
    assert.equal(res.body.decision, undefined, "no top-level decision beside evaluations");
    assert.equal((await recordCount()) - before, 3, "each evaluation is one record");
  });

  test("execute_all is the default; an evaluation's own key replaces the top-level default", async () => {
    const res = await evaluations({
      subject: subject(),
      action: { name: "tools/call" },
      resource: { type: "tool", id: "search_documents" },
      context: ctx(),
      evaluations: [{}, { action: { name: "resources/read" }, resource: { type: "resource", id: "docs://handbook/intro" } }, { context: ctx({ purpose: "" }) }],
    });
    assert.equal(res.status, 200);
    assert.equal(res.body.evaluations.length, 3);
    assert.equal(res.body.evaluations[0].decision, true);
    assert.equal(res.body.evaluations[1].context.reason_code === "INVALID_REQUEST", false, "resources/read with a resource is a real evaluation");
    assert.equal(res.body.evaluations[2].context.reason_code, "INVALID_REQUEST", "a replaced context is replaced whole (no purpose)");
    assert.match(res.body.evaluations[2].context.message, /^context\.purpose is required$/, "named as AuthZEN names it");
  });

  test("deny_on_first_deny stops at the first deny; permit_on_first_permit at the first permit", async () => {
    const three = [{ resource: { type: "tool", id: "search_documents" } }, { resource: { type: "tool", id: "send_message" } }, { resource: { type: "tool", id: "search_documents" } }];
    const common = { subject: subject(), action: { name: "tools/call" }, context: ctx(), evaluations: three };
    let before = await recordCount();
    const deny = await evaluations({ ...common, options: { evaluations_semantic: "deny_on_first_deny" } });
    assert.equal(deny.status, 200);
    assert.deepEqual(deny.body.evaluations.map((d: any) => d.decision), [true, false]);
    assert.equal((await recordCount()) - before, 2, "the third was never evaluated");
    before = await recordCount();
    const permit = await evaluations({ ...common, options: { evaluations_semantic: "permit_on_first_permit" } });
    assert.deepEqual(permit.body.evaluations.map((d: any) => d.decision), [true]);
    assert.equal((await recordCount()) - before, 1);
  });

  test("Access Evaluations without evaluations answers as one Access Evaluation", async () => {
    const res = await evaluations(toolCall("search_documents", { evaluations: [] }));
    assert.equal(res.status, 200);
    assert.equal(res.body.decision, true);
    assert.equal(res.body.evaluations, undefined);
  });

  test("malformed requests are 400 with the reason (never a 500), and no record", async () => {
    const before = await recordCount();
    const cases: [unknown, RegExp][] = [
      ["{not json", /not valid JSON/],
      ["", /not valid JSON/],
      ["[1,2]", /must be a JSON object/],
      ["null", /must be a JSON object/],
      [{ action: { name: "tools/call" }, resource: { type: "tool", id: "x" } }, /subject is required/],
      [{ ...toolCall("x"), subject: { type: "identity" } }, /subject\.id is required/],
      [{ ...toolCall("x"), subject: { type: "identity", id: 42 } }, /subject\.id is required and must be a non-empty string/],
      [{ ...toolCall("x"), action: {} }, /action\.name is required/],
      [{ ...toolCall("x"), resource: { id: "x" } }, /resource\.type is required/],
      [{ ...toolCall("x"), context: "research" }, /context must be an object/],
      [{ ...toolCall("x"), subject: { ...subject(), properties: [] } }, /subject\.properties must be an object/],
    ];
    for (const [body, reason] of cases) {
      const res = await evaluation(body);
      assert.equal(res.status, 400, JSON.stringify(body).slice(0, 80));
      assert.match(res.body.error, reason);
    }
    const batch: [unknown, RegExp][] = [
      [{ evaluations: {} }, /evaluations must be an array/],
      [{ subject: subject(), evaluations: [{ resource: { type: "tool", id: "x" } }] }, /action is required/],
      [{ ...toolCall("x"), evaluations: [1] }, /evaluations\[0\] must be an object/],
      [{ ...toolCall("x"), options: { evaluations_semantic: "first_come" } }, /evaluations_semantic must be one of execute_all, deny_on_first_deny, permit_on_first_permit/],
      [{ ...toolCall("x"), evaluations: Array.from({ length: 65 }, () => ({})) }, /at most 64 evaluations/],
    ];
    for (const [body, reason] of batch) {
      const res = await evaluations(body);
      assert.equal(res.status, 400, JSON.stringify(body).slice(0, 80));
      assert.match(res.body.error, reason);
    }
    const type = await evaluation(JSON.stringify(toolCall("x")), { "content-type": "text/plain" });
    assert.equal(type.status, 415);
    assert.match(type.body.error, /application\/json/);
    const id = await evaluation(toolCall("search_documents"), { "x-request-id": "a b" });
    assert.equal(id.status, 400);
    assert.equal((await recordCount()) - before, 0, "a request that is not an evaluation makes no decision record");
  });

  test("an oversized body is 413, by its declared length or while it streams", async () => {
    const big = JSON.stringify({ ...toolCall("search_documents"), context: ctx({ arguments: { blob: "x".repeat(70 * 1024) } }) });
    const declared = await evaluation(big);
    assert.equal(declared.status, 413);
    assert.match(declared.body.error, /larger than 65536 bytes/);
    // Chunked (no Content-Length): refused as soon as the body passes the bound.
    const streamed = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const req = httpRequest(`${base}/access/v1/evaluation`, { method: "POST", headers: JSON_TYPE, timeout: 30_000 }, (res) => {
        let body = "";
        res.on("data", (d: Buffer) => (body += d.toString()));
        res.on("end", () => resolve({ status: res.statusCode!, body }));
      });
      req.on("error", reject);
      const chunk = "x".repeat(16 * 1024);
      let sent = 0;
      const pump = () => {
        while (sent < 1024 * 1024 && !req.destroyed) {
          sent += chunk.length;
          if (!req.write(chunk)) return void req.once("drain", pump);
        }
        req.end();
      };
      pump();
    }).catch((err: NodeJS.ErrnoException) => ({ status: err.code === "ECONNRESET" || err.code === "EPIPE" ? 413 : -1, body: String(err) }));
    assert.equal(streamed.status, 413, streamed.body);
  });

  test("unknown paths are 404, a wrong method 405", async () => {
    assert.equal((await call(base, "/access/v1/search/subject", {})).status, 404);
    const get = await call(base, "/access/v1/evaluation", undefined, {}, "GET");
    assert.equal(get.status, 405);
    assert.equal(get.headers.get("allow"), "POST");
  });

  test("claims-only: a request without the user's and the agent's tokens is decision false with a record", async () => {
    const before = await recordCount();
    const claims = { subject: { type: "identity", id: "alice", properties: { scope: "docs.read" } }, action: { name: "tools/call" }, resource: { type: "tool", id: "search_documents" }, context: { agent: "dev-client", server_id: SERVER, purpose: "research" } };
    const res = await evaluation(claims);
    assert.equal(res.status, 200);
    assert.equal(res.body.decision, false);
    assert.equal(res.body.context.reason_code, "INVALID_REQUEST");
    assert.match(res.body.context.message, /claims-only request/);
    const noAgent = await evaluation({ ...toolCall("search_documents"), context: ctx({ workload_token: undefined }) });
    assert.equal(noAgent.body.decision, false);
    assert.match(noAgent.body.context.message, /both tokens are required/, "a user token without the agent's is not half verified");
    const asserted = await evaluation({
      ...claims,
      subject: { type: "identity", id: "alice", properties: { iss: "https://dev-issuer.mcp-pdp.invalid", scope: "docs.read" } },
      context: { ...claims.context, workload_id: "spiffe://dev.mcp-pdp.local/agent/research-assistant" },
    });
    assert.equal(asserted.body.decision, false);
    assert.equal(asserted.body.context.reason_code, "CALLER_UNAUTHORIZED", "complete claims from a caller not trusted to assert them");
    assert.match(asserted.body.context.message, /not trusted to assert claims/);
    const records = await pdp.records();
    assert.deepEqual(records.slice(before).map((r) => `${r.decision}:${r.reasonCode}`), ["DENY:INVALID_REQUEST", "DENY:INVALID_REQUEST", "DENY:CALLER_UNAUTHORIZED"]);
  });

  test("subject.id must be the verified user token's subject: otherwise SUBJECT_MISMATCH", async () => {
    const res = await evaluation({ ...toolCall("search_documents"), subject: { type: "identity", id: "mallory", properties: { token: userToken } } });
    assert.equal(res.body.decision, false);
    assert.equal(res.body.context.reason_code, "SUBJECT_MISMATCH");
  });

  test("a garbage token, an unknown action, a resource of the wrong type: decision false, never an error", async () => {
    const garbage = await evaluation({ ...toolCall("search_documents"), subject: { type: "identity", id: "alice", properties: { token: "not.a.jwt" } } });
    assert.equal(garbage.body.context.reason_code, "TOKEN_INVALID");
    const unknown = await evaluation({ ...toolCall("search_documents"), action: { name: "tools/delete" } });
    assert.equal(unknown.body.context.reason_code, "INVALID_REQUEST");
    assert.match(unknown.body.context.message, /action\.name must be one of/);
    const wrongType = await evaluation({ ...toolCall("search_documents"), resource: { type: "document", id: "search_documents" } });
    assert.equal(wrongType.body.context.reason_code, "INVALID_REQUEST");
    const clients = await evaluation({ ...toolCall("search_documents"), context: ctx({ client_id: "other-client" }) });
    assert.equal(clients.body.context.reason_code, "INVALID_REQUEST");
    assert.match(clients.body.context.message, /different clients/);
    const notMine = await evaluation({ ...toolCall("search_documents"), context: ctx({ agent: "other-client" }) });
    assert.equal(notMine.body.context.reason_code, "CLIENT_MISMATCH");
  });

  test("the same question over gRPC and over AuthZEN: the same decision, reason and record", async () => {
    const questions: { tool: string; args: Record<string, string> }[] = [
      { tool: "search_documents", args: { query: "q3 report" } },
      { tool: "deploy_production", args: {} },
      { tool: "send_message", args: { to: "bob" } },
    ];
    for (const q of questions) {
      const before = await recordCount();
      const grpc = await pdp.authz.authorize({
        userToken,
        workloadToken,
        clientId: "dev-client",
        serverId: SERVER,
        action: Action.CALL_TOOL,
        tool: q.tool,
        purpose: "research",
        arguments: q.args,
      });
      const authzen = await evaluation({ ...toolCall(q.tool), context: ctx({ client_id: "dev-client", agent: undefined, arguments: q.args }) });
      assert.equal(authzen.body.decision, grpc.decision === Decision.ALLOW, q.tool);
      assert.equal(ReasonCode[authzen.body.context.reason_code as keyof typeof ReasonCode], grpc.reasonCode, q.tool);
      assert.deepEqual(
        authzen.body.context.reasons.map((r: any) => [r.policy_id, r.reason]),
        grpc.reasons.map((r) => [r.policyId, r.reason]),
      );
      const [a, b] = (await pdp.records()).slice(before);
      assert.ok(a && b, "two records");
      assert.deepEqual(facts(b), facts(a), `${q.tool}: the records differ only in id, time and latency`);
    }
  });

  test("a task session over AuthZEN: open_session, calls with context.session_id, end_session", async () => {
    const open = await evaluation({
      subject: subject(),
      action: { name: "open_session" },
      resource: { type: "mcp_server", id: SERVER },
      context: ctx({ server_id: undefined, tools: ["search_documents", "deploy_production"], ttl_seconds: 300 }),
    });
    assert.equal(open.status, 200);
    assert.equal(open.body.decision, true, open.body.context.message);
    const session = open.body.context.session_id as string;
    assert.ok(session);
    assert.deepEqual(open.body.context.granted_tools, ["search_documents"]);
    assert.deepEqual(open.body.context.refused.map((r: any) => r.item), ["deploy_production"]);
    const inSession = await evaluation(toolCall("search_documents", { context: ctx({ session_id: session }) }));
    assert.equal(inSession.body.decision, true, inSession.body.context.message);
    assert.ok(inSession.body.context.session_expires_at);
    const notGranted = await evaluation(toolCall("summarize", { context: ctx({ session_id: session }) }));
    assert.equal(notGranted.body.context.reason_code, "TOOL_NOT_GRANTED");
    const changed = await evaluation(toolCall("search_documents", { context: ctx({ session_id: session, purpose: "marketing" }) }));
    assert.equal(changed.body.context.reason_code, "CONTEXT_CHANGED");
    assert.deepEqual(changed.body.context.obligations, [{ id: "obl-1", type: "custom", properties: { vendor: "mcp-pdp", action: "reauthorize", changed: "purpose" } }]);
    const end = await evaluation({ subject: subject(), action: { name: "end_session" }, resource: { type: "session", id: session } });
    assert.equal(end.body.decision, true);
    assert.equal(end.body.context.ended, true);
    const after = await evaluation(toolCall("search_documents", { context: ctx({ session_id: session }) }));
    assert.equal(after.body.decision, false);
    assert.match(after.body.context.reason_code, /^SESSION_(REVOKED|EXPIRED|UNKNOWN)$/);
    const kinds = (await pdp.records()).slice(-6).map((r) => `${r.kind}:${r.decision}`);
    assert.deepEqual(kinds, ["open_session:ALLOW", "authorize:ALLOW", "authorize:DENY", "authorize:DENY", "end_session:ALLOW", "authorize:DENY"], "each evaluation is one record");
  });

  test("obligations after the AuthZEN obligations draft: approval id, step-up scopes", async () => {
    const botToken = await mintDevToken("workload", { subject: BOT });
    const user = (scopes: string[]) => mintDevToken("user", { audience: SERVER, scopes });
    const release = async (scopes: string[]) => ({
      subject: { type: "identity", id: "alice", properties: { token: await user(scopes) } },
      context: { agent: "dev-client", server_id: SERVER, purpose: "release", workload_token: botToken },
    });
    const open = await evaluation({ ...(await release(["deploy.production"])), action: { name: "open_session" }, resource: { type: "mcp_server", id: SERVER }, context: { ...(await release([])).context, tools: ["deploy_production"] } });
    assert.equal(open.body.decision, true, open.body.context.message);
    const session = open.body.context.session_id;
    const call = async (scopes: string[]) => {
      const r = await release(scopes);
      return evaluation({ ...r, action: { name: "tools/call" }, resource: { type: "tool", id: "deploy_production" }, context: { ...r.context, session_id: session, arguments: { version: "1.2.3" } } });
    };
    const approval = await call(["deploy.production"]);
    assert.equal(approval.body.decision, false);
    assert.equal(approval.body.context.reason_code, "APPROVAL_REQUIRED");
    const [o] = approval.body.context.obligations;
    assert.equal(o.type, "custom");
    assert.equal(o.properties.vendor, "mcp-pdp");
    assert.equal(o.properties.action, "approval");
    assert.ok(o.properties.approval_id && !Number.isNaN(Date.parse(o.properties.expires_at)));
    const stepUp = await call(["docs.read"]);
    assert.equal(stepUp.body.context.reason_code, "INSUFFICIENT_SCOPE");
    assert.deepEqual(stepUp.body.context.obligations, [{ id: "obl-1", type: "custom", properties: { vendor: "mcp-pdp", action: "step_up", scopes: ["deploy.production"] } }]);
  });
});

describe("AuthZEN claim asserters: a trusted caller's claims instead of tokens, and policy sees it", () => {
  let pdp: TestPdp;
  let base: string;
  const AGENT_ID = "spiffe://dev.mcp-pdp.local/agent/research-assistant";
  const claims = (tool: string) => ({
    subject: { type: "identity", id: "alice", properties: { iss: "https://dev-issuer.mcp-pdp.invalid", scope: "docs.read" } },
    action: { name: "tools/call" },
    resource: { type: "tool", id: tool },
    context: { agent: "dev-client", server_id: SERVER, purpose: "research", workload_id: AGENT_ID },
  });

  before(async () => {
    const cedarDir = copyCedar((dir) =>
      writeFileSync(
        path.join(dir, "policies", "asserted-claims.cedar"),
        `@id("asserted-claims-not-for-read-document")
@reason("read_document needs verified tokens, not asserted claims")
forbid (principal, action == Action::"call_tool", resource == Tool::"https://docs.example.com/mcp#read_document")
when { context has claims_asserted && context.claims_asserted };
`,
      ),
    );
    pdp = await startTestPdp({ sessions: { required: false }, cedarDir, http: { claimAsserters: ["development"] } });
    base = `http://127.0.0.1:${pdp.app.httpPort}`;
  });
  after(() => pdp.close());

  test("a trusted caller's asserted claims are decided on, and the record names who asserted them", async () => {
    const res = await call(base, "/access/v1/evaluation", claims("search_documents"));
    assert.equal(res.status, 200);
    assert.equal(res.body.decision, true, res.body.context.message);
    const record = (await pdp.records()).at(-1)!;
    assert.equal(record.claimsAssertedBy, "development");
    assert.equal(record.userSubject, "alice");
    assert.equal(record.agentId, AGENT_ID);
  });

  test("policy sees context.claims_asserted: a rule can refuse asserted claims where tokens would pass", async () => {
    const asserted = await call(base, "/access/v1/evaluation", claims("read_document"));
    assert.equal(asserted.body.decision, false);
    assert.equal(asserted.body.context.reason_code, "POLICY_DENIED");
    assert.deepEqual(asserted.body.context.reasons.map((r: any) => r.policy_id), ["asserted-claims-not-for-read-document"]);
    const userToken = await mintDevToken("user", { audience: SERVER, scopes: ["docs.read"] });
    const withTokens = await call(base, "/access/v1/evaluation", {
      ...claims("read_document"),
      subject: { type: "identity", id: "alice", properties: { token: userToken } },
      context: { agent: "dev-client", server_id: SERVER, purpose: "research", workload_token: await mintDevToken("workload") },
    });
    assert.equal(withTokens.body.decision, true, withTokens.body.context.message);
    assert.equal((await pdp.records()).at(-1)!.claimsAssertedBy, undefined);
  });

  test("a revoked agent's asserted claims are refused (asserted claims have no issue time to outlive a revocation)", async () => {
    const other = "spiffe://dev.mcp-pdp.local/agent/research-assistant-2";
    const admin = createClient(AdminService, pdp.address);
    try {
      await admin.revoke({ target: { case: "agentId", value: other }, reason: "test" });
    } finally {
      admin.close();
    }
    // Past the second of the revocation: claims "issued now" would outlive it.
    await new Promise((r) => setTimeout(r, 1100));
    const res = await call(base, "/access/v1/evaluation", { ...claims("search_documents"), context: { ...claims("x").context, workload_id: other } });
    assert.equal(res.body.decision, false);
    assert.equal(res.body.context.reason_code, "TOKEN_INVALID");
    assert.match(res.body.context.message, /agent revoked/);
  });

  test("asserted claims are checked: a workload id that is not a SPIFFE ID is INVALID_REQUEST", async () => {
    const res = await call(base, "/access/v1/evaluation", { ...claims("search_documents"), context: { ...claims("x").context, workload_id: "research-assistant" } });
    assert.equal(res.body.context.reason_code, "INVALID_REQUEST");
  });
});

describe("AuthZEN in production mode: callers authenticate as over gRPC", () => {
  const AGENT = "spiffe://test.example.org/agent/research";
  let idp: JwksServer;
  /** A second caller issuer whose keys cannot be fetched. */
  let downIdp: JwksServer;
  let pdp: TestPdp;
  let base: string;
  let t: Record<"user" | "workload" | "caller" | "otherCaller", string>;
  const body = (context: Record<string, unknown> = {}) => ({
    subject: { type: "identity", id: "bob", properties: { token: t.user } },
    action: { name: "tools/call" },
    resource: { type: "tool", id: "search_documents" },
    context: { agent: "web-client", purpose: "research", workload_token: t.workload, ...context },
  });

  before(async () => {
    idp = await startJwksServer();
    const now = Math.floor(Date.now() / 1000);
    const c = { iat: now, exp: now + 600 };
    t = {
      user: await idp.sign({ ...c, sub: "bob", aud: SERVER, client_id: "web-client", scope: "docs:read" }),
      workload: await idp.sign({ ...c, sub: AGENT, aud: "mcp-pdp" }),
      caller: await idp.sign({ ...c, sub: SERVER, aud: "mcp-pdp" }),
      otherCaller: await idp.sign({ ...c, sub: "https://other.example.com/mcp", aud: "mcp-pdp" }),
    };
    const keys = { issuer: idp.issuer, jwksUri: idp.jwksUri };
    downIdp = await startJwksServer();
    downIdp.setMode("error500");
    pdp = await startTestPdp({
      mode: "production",
      allowPlaintext: true,
      http: { port: 0 },
      cedarDir: copyCedar((dir) => {
        trustIdp(dir, idp.issuer);
        addAgent(dir, AGENT);
      }),
      identity: {
        userIssuers: [keys],
        workloadIssuers: [{ ...keys, trustDomains: ["test.example.org"] }],
        callerIssuers: [keys, { issuer: downIdp.issuer, jwksUri: downIdp.jwksUri }],
      },
      sessions: { required: false },
    });
    base = `http://127.0.0.1:${pdp.app.httpPort}`;
  });
  after(async () => {
    await pdp?.close();
    await idp?.close();
    await downIdp?.close();
  });

  test("a caller token whose issuer's keys cannot be fetched: 503 with Retry-After (not a verdict on the caller)", async () => {
    const now = Math.floor(Date.now() / 1000);
    const caller = await downIdp.sign({ iat: now, exp: now + 600, sub: SERVER, aud: "mcp-pdp" });
    const res = await call(base, "/access/v1/evaluation", body(), { authorization: `Bearer ${caller}` });
    assert.equal(res.status, 503);
    assert.ok(res.headers.get("retry-after"));
    assert.match(res.body.error, /identity provider is unavailable/);
  });

  test("without credentials, or with a bad bearer token: 401 with WWW-Authenticate, no record", async () => {
    const before = (await pdp.records()).length;
    const none = await call(base, "/access/v1/evaluation", body());
    assert.equal(none.status, 401);
    assert.match(none.headers.get("www-authenticate") ?? "", /^Bearer/);
    assert.match(none.body.error, /caller credentials required/);
    const garbage = await call(base, "/access/v1/evaluation", body(), { authorization: "Bearer not.a.jwt" });
    assert.equal(garbage.status, 401);
    const basic = await call(base, "/access/v1/evaluations", body(), { authorization: "Basic dXNlcjpwYXNz" });
    assert.equal(basic.status, 401);
    assert.equal((await pdp.records()).length, before);
    assert.ok(!pdp.logText().includes(t.user), "tokens never reach the log");
  });

  test("an authenticated PEP asks for itself: the server defaults to the caller's identity (COAZ-MCP default mapping)", async () => {
    const res = await call(base, "/access/v1/evaluation", body(), { authorization: `Bearer ${t.caller}` });
    assert.equal(res.status, 200);
    assert.equal(res.body.decision, true, res.body.context?.message);
    const record = (await pdp.records()).at(-1)!;
    assert.equal(record.caller, SERVER);
    assert.equal(record.serverId, SERVER);
  });

  test("a PEP asking on another server's behalf is decision false CALLER_UNAUTHORIZED", async () => {
    const res = await call(base, "/access/v1/evaluation", body({ server_id: SERVER }), { authorization: `Bearer ${t.otherCaller}` });
    assert.equal(res.status, 200);
    assert.equal(res.body.decision, false);
    assert.equal(res.body.context.reason_code, "CALLER_UNAUTHORIZED");
  });

  test("the metadata is public (no caller credentials needed)", async () => {
    const res = await call(base, "/.well-known/authzen-configuration", undefined, {}, "GET");
    assert.equal(res.status, 200);
    assert.equal(res.body.access_evaluations_endpoint, `${base}/access/v1/evaluations`);
  });
});

describe("AuthZEN with mTLS: the HTTP listener takes the gRPC listener's TLS, the certificate's URI SAN is the caller", () => {
  const AGENT = "spiffe://test.example.org/agent/research";
  let idp: JwksServer;
  let pdp: TestPdp;
  let certs: ReturnType<typeof makeCertificates>;
  let tokens: { user: string; workload: string };

  before(async () => {
    idp = await startJwksServer();
    const now = Math.floor(Date.now() / 1000);
    tokens = {
      user: await idp.sign({ iat: now, exp: now + 600, sub: "bob", aud: SERVER, client_id: "web-client", scope: "docs:read" }),
      workload: await idp.sign({ iat: now, exp: now + 600, sub: AGENT, aud: "mcp-pdp" }),
    };
    certs = makeCertificates([SERVER, "https://other.example.com/mcp"]);
    const d = certs.dir;
    const keys = { issuer: idp.issuer, jwksUri: idp.jwksUri };
    pdp = await startTestPdp({
      mode: "production",
      http: { port: 0 },
      tls: { certFile: `${d}/server.crt`, keyFile: `${d}/server.key`, caFile: `${d}/ca.crt`, requireClientCert: true },
      cedarDir: copyCedar((dir) => {
        trustIdp(dir, idp.issuer);
        addAgent(dir, AGENT);
      }),
      identity: { userIssuers: [keys], workloadIssuers: [{ ...keys, trustDomains: ["test.example.org"] }] },
      sessions: { required: false },
    });
  });
  after(async () => {
    await pdp?.close();
    await idp?.close();
  });

  const ask = (client: number | undefined, context: Record<string, unknown> = {}) =>
    new Promise<{ status: number; body: any }>((resolve, reject) => {
      const c = client === undefined ? {} : certs.client(client);
      const req = httpsRequest(
        { host: "localhost", port: pdp.app.httpPort, path: "/access/v1/evaluation", method: "POST", headers: JSON_TYPE, ca: readFileSync(`${certs.dir}/ca.crt`), ...c, timeout: 30_000 },
        (res) => {
          let text = "";
          res.on("data", (d: Buffer) => (text += d.toString()));
          res.on("end", () => resolve({ status: res.statusCode!, body: JSON.parse(text) }));
        },
      );
      req.on("error", reject);
      req.end(
        JSON.stringify({
          subject: { type: "identity", id: "bob", properties: { token: tokens.user } },
          action: { name: "tools/call" },
          resource: { type: "tool", id: "search_documents" },
          context: { agent: "web-client", purpose: "research", workload_token: tokens.workload, ...context },
        }),
      );
    });

  test("a certificate naming the server: decision true, the record names the caller", async () => {
    const res = await ask(0);
    assert.equal(res.status, 200);
    assert.equal(res.body.decision, true, res.body.context?.message);
    assert.equal((await pdp.records()).at(-1)!.caller, SERVER);
  });

  test("a certificate naming another server, asking for this one: decision false CALLER_UNAUTHORIZED", async () => {
    const res = await ask(1, { server_id: SERVER });
    assert.equal(res.body.decision, false);
    assert.equal(res.body.context.reason_code, "CALLER_UNAUTHORIZED");
  });

  test("no client certificate: the TLS handshake is refused", async () => {
    await assert.rejects(ask(undefined));
  });
});

describe("the HTTP listener stops with the app", () => {
  test("a request in flight when the app stops is still answered; afterwards nothing listens", { timeout: 120_000 }, async () => {
    const pdp = await startTestPdp({ sessions: { required: false } });
    const port = pdp.app.httpPort!;
    let stopped: Promise<void> | undefined;
    try {
      const userToken = await mintDevToken("user", { audience: SERVER });
      const body = JSON.stringify({
        subject: { type: "identity", id: "alice", properties: { token: userToken } },
        action: { name: "tools/call" },
        resource: { type: "tool", id: "search_documents" },
        context: { agent: "dev-client", server_id: SERVER, purpose: "research", workload_token: await mintDevToken("workload") },
      });
      const answer = new Promise<{ status: number; text: string }>((resolve, reject) => {
        const req = httpRequest({ host: "127.0.0.1", port, path: "/access/v1/evaluation", method: "POST", headers: { ...JSON_TYPE, "content-length": Buffer.byteLength(body) }, timeout: 60_000 }, (res) => {
          let text = "";
          res.on("data", (d: Buffer) => (text += d.toString()));
          res.on("end", () => resolve({ status: res.statusCode!, text }));
        });
        req.on("error", reject);
        // Half the body now; the rest once the app is stopping.
        req.write(body.slice(0, 100));
        setTimeout(() => {
          stopped = pdp.close();
          setTimeout(() => req.end(body.slice(100)), 200);
        }, 200);
      });
      const res = await answer;
      assert.equal(res.status, 200, res.text);
      assert.equal(JSON.parse(res.text).decision, true);
      await stopped;
      await assert.rejects(fetch(`http://127.0.0.1:${port}/.well-known/authzen-configuration`, { signal: AbortSignal.timeout(10_000) }));
    } finally {
      await (stopped ?? pdp.close());
    }
  });
});
