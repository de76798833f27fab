import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { Action, Decision, ReasonCode } from "../../src/gen/mcppdp/v1/common_pb.js";
import { DEV_ISSUER, mintDevToken } from "../../src/identity/dev-issuer.js";
import { startTestPdp, type TestPdp } from "../support/pdp.js";

const SERVER = "https://docs.example.com/mcp";
const AGENT = "spiffe://dev.mcp-pdp.local/agent/research-assistant";

describe("Authorize over gRPC, session-less (development mode, bundled policies, dev issuer)", () => {
  let pdp: TestPdp;
  let userToken: string;
  let workloadToken: string;
  const ask = (fields: Record<string, unknown> = {}) =>
    pdp.authz.authorize({
      userToken,
      workloadToken,
      clientId: "dev-client",
      serverId: SERVER,
      action: Action.CALL_TOOL,
      tool: "search_documents",
      purpose: "research",
      ...fields,
    });

  before(async () => {
    pdp = await startTestPdp({ sessions: { required: false } });
    userToken = await mintDevToken("user", { audience: SERVER });
    workloadToken = await mintDevToken("workload");
  });
  after(() => pdp.close());

  test("an allowed tool call is ALLOW with the permitting policy, decision id, version and time", async () => {
    const res = await ask();
    assert.equal(res.decision, Decision.ALLOW, res.message);
    assert.equal(res.reasonCode, ReasonCode.ALLOWED);
    assert.ok(res.reasons.some((r) => r.policyId === "tool-allowlist-research" && r.reason.length > 0));
    assert.match(res.decisionId, /^[0-9a-f-]{36}$/);
    assert.equal(res.policyVersion, pdp.app.engine().version);
    assert.ok(res.evaluatedAt && Math.abs(Number(res.evaluatedAt.seconds) * 1000 - Date.now()) < 60_000);
  });

  test("decision ids are unique", async () => {
    const ids = new Set<string>();
    for (let i = 0; i < 20; i++) ids.add((await ask()).decisionId);
    assert.equal(ids.size, 20);
  });

  test("a forbid is DENY POLICY_DENIED naming the forbidding policy and its reason", async () => {
    const res = await ask({ tool: "deploy_production" });
    assert.equal(res.decision, Decision.DENY);
    assert.equal(res.reasonCode, ReasonCode.POLICY_DENIED);
    assert.deepEqual(
      res.reasons.map((r) => r.policyId),
      ["production-write-requires-approval", "purpose-production-tools", "tool-required-scopes"],
    );
    assert.match(res.reasons[0]!.reason, /approval/);
  });

  test("a tool no policy grants is DENY NO_PERMIT (default deny)", async () => {
    const res = await ask({ tool: "send_message" });
    assert.equal(res.decision, Decision.DENY);
    assert.equal(res.reasonCode, ReasonCode.NO_PERMIT);
    assert.deepEqual(res.reasons, []);
  });

  test("an unknown agent is DENY NO_PERMIT", async () => {
    const res = await ask({ workloadToken: await mintDevToken("workload", { subject: "spiffe://dev.mcp-pdp.local/agent/unknown" }) });
    assert.equal(res.reasonCode, ReasonCode.NO_PERMIT);
  });

  test("a declared client that is not the token's client is DENY CLIENT_MISMATCH", async () => {
    const res = await ask({ clientId: "other-client" });
    assert.equal(res.decision, Decision.DENY);
    assert.equal(res.reasonCode, ReasonCode.CLIENT_MISMATCH);
  });

  test("a user token minted for another server is DENY AUDIENCE_MISMATCH (no token passthrough)", async () => {
    const res = await ask({ userToken: await mintDevToken("user", { audience: "https://other.example.com/mcp" }) });
    assert.equal(res.decision, Decision.DENY);
    assert.equal(res.reasonCode, ReasonCode.AUDIENCE_MISMATCH);
  });

  test("an expired user token is DENY TOKEN_EXPIRED", async () => {
    const issuedAt = Math.floor(Date.now() / 1000) - 3000;
    const res = await ask({ userToken: await mintDevToken("user", { audience: SERVER, issuedAt, ttlSeconds: 600 }) });
    assert.equal(res.reasonCode, ReasonCode.TOKEN_EXPIRED);
  });

  test("a garbage token is DENY TOKEN_INVALID", async () => {
    assert.equal((await ask({ userToken: "not.a.jwt" })).reasonCode, ReasonCode.TOKEN_INVALID);
    assert.equal((await ask({ workloadToken: "x" })).reasonCode, ReasonCode.TOKEN_INVALID);
  });

  test("a session handle the PDP never minted is DENY SESSION_UNKNOWN", async () => {
    assert.equal((await ask({ sessionId: "made-up-handle" })).reasonCode, ReasonCode.SESSION_UNKNOWN);
    assert.equal((await ask({ sessionId: "A".repeat(43) })).reasonCode, ReasonCode.SESSION_UNKNOWN);
  });

  test("bad input is DENY INVALID_REQUEST, never a crash or a gRPC error", async () => {
    const cases: Record<string, unknown>[] = [
      { userToken: "" },
      { workloadToken: "" },
      { clientId: "" },
      { serverId: "" },
      { purpose: "" },
      { tool: "" },
      { tool: "bad tool name with spaces" },
      { action: 99 },
      { action: Action.UNSPECIFIED },
      { action: Action.READ_RESOURCE, tool: "", resourceUri: "" },
      { clientId: "a\u0000b" },
      { arguments: { blob: "x".repeat(70 * 1024) } },
    ];
    for (const fields of cases) {
      const res = await ask(fields);
      assert.equal(res.decision, Decision.DENY, JSON.stringify(fields).slice(0, 80));
      assert.equal(res.reasonCode, ReasonCode.INVALID_REQUEST, JSON.stringify(fields).slice(0, 80));
      assert.ok(res.message.length > 0);
      assert.ok(res.decisionId);
    }
  });

  test("a message over maxMessageBytes is refused by the transport with RESOURCE_EXHAUSTED, and the server stays up", async () => {
    await assert.rejects(ask({ arguments: { blob: "x".repeat(2 * 1024 * 1024) } }), (e: grpc.ServiceError) => e.code === grpc.status.RESOURCE_EXHAUSTED);
    assert.equal((await ask()).decision, Decision.ALLOW);
  });

  test("an Authorize larger than its own bound (below the transport's) is DENY INVALID_REQUEST without being decoded", async () => {
    const res = await ask({ arguments: { blob: "x".repeat(150 * 1024) } });
    assert.equal(res.decision, Decision.DENY);
    assert.equal(res.reasonCode, ReasonCode.INVALID_REQUEST);
    assert.match(res.message, /request message is larger than \d+ bytes/);
    const [record] = (await pdp.records()).filter((r) => r.decisionId === res.decisionId);
    assert.equal(record?.reasonCode, "INVALID_REQUEST");
  });

  test("a request that does not decode as protobuf is DENY INVALID_REQUEST", async () => {
    const client = new grpc.Client(pdp.address, grpc.credentials.createInsecure());
    const res = await new Promise<Buffer>((resolve, reject) =>
      client.makeUnaryRequest(
        "/mcppdp.v1.AuthorizationService/Authorize",
        (b: Buffer) => b,
        (b: Buffer) => b,
        Buffer.from([0x0a, 0xff, 0xff, 0xff]), // field 1, length far past the end
        (err, value) => (err ? reject(err) : resolve(value!)),
      ),
    );
    client.close();
    const { fromBinary } = await import("@bufbuild/protobuf");
    const { AuthorizeResponseSchema } = await import("../../src/gen/mcppdp/v1/authorization_pb.js");
    const decoded = fromBinary(AuthorizeResponseSchema, res);
    assert.equal(decoded.decision, Decision.DENY);
    assert.equal(decoded.reasonCode, ReasonCode.INVALID_REQUEST);
  });

  test("every decision writes exactly one record joining all parties, and no token", async () => {
    const before = (await pdp.records()).length;
    const res = await ask({ arguments: { query: "quarterly report" } });
    const denied = await ask({ tool: "deploy_production" });
    const all = await pdp.records();
    const mine = all.slice(before);
    assert.equal(mine.length, 2);
    const r = mine.find((x) => x.decisionId === res.decisionId)!;
    assert.equal(r.decision, "ALLOW");
    assert.equal(r.reasonCode, "ALLOWED");
    assert.equal(r.agentId, AGENT);
    assert.equal(r.userIssuer, DEV_ISSUER);
    assert.equal(r.userSubject, "alice");
    assert.equal(r.idp, DEV_ISSUER);
    assert.equal(r.clientId, "dev-client");
    assert.equal(r.serverId, SERVER);
    assert.equal(r.tool, "search_documents");
    assert.equal(r.purpose, "research");
    assert.equal(r.action, "call_tool");
    assert.match(r.argumentsDigest!, /^[0-9a-f]{64}$/);
    assert.equal(r.policyVersion, res.policyVersion);
    assert.ok(r.latencyUs > 0);
    const d = mine.find((x) => x.decisionId === denied.decisionId)!;
    assert.equal(d.reasonCode, "POLICY_DENIED");
    assert.deepEqual(d.reasons.map((x) => x.policyId), ["production-write-requires-approval", "purpose-production-tools", "tool-required-scopes"]);
    const text = JSON.stringify(all) + pdp.logText();
    for (const token of [userToken, workloadToken]) {
      assert.ok(!text.includes(token), "a token reached a record or the log");
      assert.ok(!text.includes(token.split(".")[2]!), "a token signature reached a record or the log");
    }
    assert.ok(!JSON.stringify(mine).includes("quarterly report"), "raw arguments reached a record");
  });

  test("FilterTools returns only the tools policy permits, in request order", async () => {
    const res = await pdp.authz.filterTools({
      userToken,
      workloadToken,
      clientId: "dev-client",
      serverId: SERVER,
      purpose: "research",
      tools: ["deploy_production", "search_documents", "send_message", "read_document", "no_such_tool"],
    });
    assert.deepEqual(res.tools, ["search_documents", "read_document"]);
    const refused = await pdp.authz.filterTools({ userToken, workloadToken, clientId: "x", serverId: SERVER, purpose: "research", tools: ["search_documents"] });
    assert.deepEqual(refused.tools, []);
    assert.equal(refused.reasonCode, ReasonCode.CLIENT_MISMATCH);
  });
});
