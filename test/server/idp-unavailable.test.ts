/**
 * Through the real PDP: an Authorize whose user token's IdP cannot be reached is DENY
 * IDP_UNAVAILABLE (recorded so, and logged once), costs the JWKS fetch timeout only until the IdP is
 * known to be down, and is ALLOWed again by itself once the IdP answers.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { Action, Decision, ReasonCode } from "../../src/gen/mcppdp/v1/common_pb.js";
import { devIdentityConfig, mintDevToken } from "../../src/identity/dev-issuer.js";
import { startJwksServer, type JwksServer } from "../support/jwks-server.js";
import { copyCedar, startTestPdp, trustIdp, type TestPdp } from "../support/pdp.js";

const SERVER = "https://docs.example.com/mcp";

async function withPdp(identity: Record<string, unknown>, run: (pdp: TestPdp, idp: JwksServer) => Promise<void>): Promise<void> {
  const idp = await startJwksServer();
  let pdp: TestPdp | undefined;
  try {
    pdp = await startTestPdp({
      cedarDir: copyCedar((dir) => trustIdp(dir, idp.issuer)),
      sessions: { required: false },
      identity: { userIssuers: [{ issuer: idp.issuer, jwksUri: idp.jwksUri }], workloadIssuers: devIdentityConfig().workloadIssuers, ...identity },
    });
    await run(pdp, idp);
  } finally {
    await pdp?.close();
    await idp.close();
  }
}

async function ask(pdp: TestPdp, idp: JwksServer) {
  const now = Math.floor(Date.now() / 1000);
  const userToken = await idp.sign({ sub: "alice", aud: SERVER, client_id: "dev-client", iat: now, exp: now + 300 });
  const workloadToken = await mintDevToken("workload");
  return pdp.authz.authorize({ userToken, workloadToken, clientId: "dev-client", serverId: SERVER, action: Action.CALL_TOOL, tool: "search_documents", purpose: "research" });
}

describe("identity provider unavailable, through gRPC", { timeout: 120_000 }, () => {
  test("a hanging JWKS: DENY IDP_UNAVAILABLE, one fetch for many calls, recorded and logged once", async () => {
    await withPdp({ jwksTimeoutMs: 300, jwksProbeIntervalMs: 600_000 }, async (pdp, idp) => {
      idp.setMode("hang");
      for (let i = 0; i < 10; i++) {
        const res = await ask(pdp, idp);
        assert.equal(res.decision, Decision.DENY);
        assert.equal(res.reasonCode, ReasonCode.IDP_UNAVAILABLE);
      }
      assert.equal(idp.fetches, 1, "calls kept waiting on a JWKS known to be down");
      const records = await pdp.records();
      assert.equal(records.length, 10);
      assert.ok(records.every((r) => r.reasonCode === "IDP_UNAVAILABLE"));
      assert.equal(pdp.logText().match(/identity provider unavailable/g)?.length, 1);
    });
  });

  test("recovery is automatic: ALLOW again once the IdP answers, with no operator action", async () => {
    await withPdp({ jwksTimeoutMs: 10_000, jwksProbeIntervalMs: 20, jwksProbeMaxIntervalMs: 50 }, async (pdp, idp) => {
      idp.setMode("error500");
      assert.equal((await ask(pdp, idp)).reasonCode, ReasonCode.IDP_UNAVAILABLE);
      idp.setMode("serve");
      const deadline = Date.now() + 15_000;
      let res = await ask(pdp, idp);
      while (res.decision !== Decision.ALLOW && Date.now() < deadline) {
        assert.equal(res.reasonCode, ReasonCode.IDP_UNAVAILABLE);
        await sleep(20);
        res = await ask(pdp, idp);
      }
      assert.equal(res.decision, Decision.ALLOW);
      assert.match(pdp.logText(), /identity provider reachable again/);
    });
  });
});
