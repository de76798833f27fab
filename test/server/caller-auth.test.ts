import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { createClient } from "../../src/grpc/client.js";
import { AdminService } from "../../src/gen/mcppdp/v1/admin_pb.js";
import { AuthorizationService } from "../../src/gen/mcppdp/v1/authorization_pb.js";
import { Action, Decision, ReasonCode } from "../../src/gen/mcppdp/v1/common_pb.js";
import { loadConfig } from "../../src/config/load-config.js";
import { makeCertificates } from "../support/certificates.js";
import { startJwksServer, type JwksServer } from "../support/jwks-server.js";
import { addAgent, copyCedar, startTestPdp, trustIdp, type TestPdp } from "../support/pdp.js";

const SERVER = "https://docs.example.com/mcp";
const AGENT = "spiffe://test.example.org/agent/research";
const OPERATOR = "ops:alice";

async function tokens(idp: JwksServer) {
  const now = Math.floor(Date.now() / 1000);
  const t = { iat: now, exp: now + 600 };
  return {
    user: await idp.sign({ ...t, sub: "bob", aud: SERVER, client_id: "web-client", scope: "docs:read" }),
    workload: await idp.sign({ ...t, sub: AGENT, aud: "mcp-pdp" }),
    caller: await idp.sign({ ...t, sub: SERVER, aud: "mcp-pdp" }),
    otherCaller: await idp.sign({ ...t, sub: "https://other.example.com/mcp", aud: "mcp-pdp" }),
    wrongAudCaller: await idp.sign({ ...t, sub: SERVER, aud: "someone-else" }),
    operator: await idp.sign({ ...t, sub: OPERATOR, aud: "mcp-pdp" }),
  };
}

function productionConfig(idp: JwksServer, extra: Record<string, unknown> = {}) {
  const cedarDir = copyCedar((dir) => {
    trustIdp(dir, idp.issuer);
    addAgent(dir, AGENT);
  });
  const keys = { issuer: idp.issuer, jwksUri: idp.jwksUri };
  return {
    mode: "production",
    cedarDir,
    identity: {
      userIssuers: [keys],
      workloadIssuers: [{ ...keys, trustDomains: ["test.example.org"] }],
      callerIssuers: [keys],
      pdpAudience: "mcp-pdp",
    },
    operators: [OPERATOR],
    sessions: { required: false },
    ...extra,
  };
}

describe("production mode: the PDP knows who is calling", () => {
  let idp: JwksServer;
  let pdp: TestPdp;
  let t: Awaited<ReturnType<typeof tokens>>;
  const ask = (bearer?: string, fields: Record<string, unknown> = {}) =>
    pdp.authz.authorize(
      {
        userToken: t.user,
        workloadToken: t.workload,
        clientId: "web-client",
        serverId: SERVER,
        action: Action.CALL_TOOL,
        tool: "search_documents",
        purpose: "research",
        ...fields,
      },
      bearer ? { bearer } : {},
    );

  before(async () => {
    idp = await startJwksServer();
    t = await tokens(idp);
    pdp = await startTestPdp(productionConfig(idp, { allowPlaintext: true }));
  });
  after(async () => {
    await pdp.close();
    await idp.close();
  });

  test("the enforcement point's own credential: ALLOW", async () => {
    const res = await ask(t.caller);
    assert.equal(res.decision, Decision.ALLOW, res.message);
  });

  test("no caller credential: DENY CALLER_UNAUTHORIZED", async () => {
    const res = await ask();
    assert.equal(res.decision, Decision.DENY);
    assert.equal(res.reasonCode, ReasonCode.CALLER_UNAUTHORIZED);
  });

  test("a caller asking on another server's behalf: DENY CALLER_UNAUTHORIZED", async () => {
    const res = await ask(t.otherCaller);
    assert.equal(res.reasonCode, ReasonCode.CALLER_UNAUTHORIZED);
  });

  test("a caller token for another audience, or a user token used as a caller token: DENY CALLER_UNAUTHORIZED", async () => {
    assert.equal((await ask(t.wrongAudCaller)).reasonCode, ReasonCode.CALLER_UNAUTHORIZED);
    assert.equal((await ask(t.user)).reasonCode, ReasonCode.CALLER_UNAUTHORIZED);
  });

  test("GetPolicyStatus needs an operator", async () => {
    const admin = createClient(AdminService, pdp.address);
    try {
      await assert.rejects(admin.getPolicyStatus({}, { bearer: t.caller }), (e: grpc.ServiceError) => e.code === grpc.status.PERMISSION_DENIED);
      await assert.rejects(admin.getPolicyStatus({}), (e: grpc.ServiceError) => e.code === grpc.status.PERMISSION_DENIED);
      const res = await admin.getPolicyStatus({}, { bearer: t.operator });
      assert.equal(res.status?.version, pdp.app.engine().version);
      assert.ok((res.status?.policyCount ?? 0) > 0);
    } finally {
      admin.close();
    }
  });

  test("approval and audit RPCs need an operator too", async () => {
    const { ApprovalService } = await import("../../src/gen/mcppdp/v1/approval_pb.js");
    const { AuditService } = await import("../../src/gen/mcppdp/v1/audit_pb.js");
    const approvals = createClient(ApprovalService, pdp.address);
    const audit = createClient(AuditService, pdp.address);
    try {
      const denied = (e: grpc.ServiceError) => e.code === grpc.status.PERMISSION_DENIED;
      await assert.rejects(approvals.listApprovals({}, { bearer: t.caller }), denied);
      await assert.rejects(audit.queryDecisions({}, { bearer: t.caller }), denied);
      assert.deepEqual((await approvals.listApprovals({}, { bearer: t.operator })).approvals, []);
      assert.ok((await audit.queryDecisions({}, { bearer: t.operator })).records.length > 0);
    } finally {
      approvals.close();
      audit.close();
    }
  });
});

describe("configuration refuses unsafe setups", () => {
  test("production without TLS, caller auth or issuers; development off loopback; the dev issuer in production", () => {
    const refuse = (overrides: Record<string, unknown>, pattern: RegExp) =>
      assert.throws(() => loadConfig({ env: {}, overrides }), (e: Error) => pattern.test(e.message));
    refuse({ mode: "development", host: "0.0.0.0" }, /loopback only/);
    refuse({ mode: "production" }, /userIssuers/);
    const keys = { issuer: "https://idp.example", jwksUri: "https://idp.example/jwks" };
    const identity = { userIssuers: [keys], workloadIssuers: [{ ...keys, trustDomains: ["example.org"] }] };
    refuse({ mode: "production", identity }, /tls/);
    refuse({ mode: "production", identity, allowPlaintext: true }, /caller authentication/);
    const dev = { issuer: "https://dev-issuer.mcp-pdp.invalid", jwksUri: "https://x/jwks" };
    refuse({ mode: "production", allowPlaintext: true, identity: { ...identity, callerIssuers: [dev] } }, /development issuer/);
    refuse({ mode: "production", identity: { ...identity, userIssuers: [{ ...keys, algorithms: ["none"] }] } }, /none/);
  });
});

describe("production mode with mTLS: the client certificate's URI SAN is the caller", () => {
  let idp: JwksServer;
  let pdp: TestPdp;
  let t: Awaited<ReturnType<typeof tokens>>;
  let certs: ReturnType<typeof makeCertificates>;

  before(async () => {
    idp = await startJwksServer();
    t = await tokens(idp);
    certs = makeCertificates([SERVER, "https://other.example.com/mcp"]);
    const d = certs.dir;
    pdp = await startTestPdp(
      productionConfig(idp, {
        tls: { certFile: `${d}/server.crt`, keyFile: `${d}/server.key`, caFile: `${d}/ca.crt`, requireClientCert: true },
      }),
    );
  });
  after(async () => {
    await pdp.close();
    await idp.close();
  });

  const askWith = async (i: number | undefined) => {
    const ca = readFileSync(`${certs.dir}/ca.crt`);
    const c = i === undefined ? undefined : certs.client(i);
    const client = createClient(AuthorizationService, `localhost:${pdp.app.port}`, {
      credentials: grpc.credentials.createSsl(ca, c?.key ?? null, c?.cert ?? null),
    });
    try {
      return await client.authorize({
        userToken: t.user,
        workloadToken: t.workload,
        clientId: "web-client",
        serverId: SERVER,
        action: Action.CALL_TOOL,
        tool: "search_documents",
        purpose: "research",
      });
    } finally {
      client.close();
    }
  };

  test("a certificate naming the server: ALLOW", async () => {
    const res = await askWith(0);
    assert.equal(res.decision, Decision.ALLOW, res.message);
  });

  test("a certificate naming another server: DENY CALLER_UNAUTHORIZED", async () => {
    assert.equal((await askWith(1)).reasonCode, ReasonCode.CALLER_UNAUTHORIZED);
  });

  test("no client certificate: the TLS handshake is refused", async () => {
    await assert.rejects(askWith(undefined), (e: grpc.ServiceError) => e.code === grpc.status.UNAVAILABLE);
  });
});
