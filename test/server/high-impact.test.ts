/**
 * High-impact calls are never answered from a cache: not even the verified-token cache. The
 * observable difference: once the IdP withdraws a signing key (and the JWKS cache has aged), a
 * token signed with it still passes for a harmless tool (its verification is cached until the
 * token expires) but is refused at once for an egress tool, which is verified afresh.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Action, Decision, ReasonCode } from "../../src/gen/mcppdp/v1/common_pb.js";
import { devIdentityConfig, mintDevToken } from "../../src/identity/dev-issuer.js";
import { startJwksServer } from "../support/jwks-server.js";
import { copyCedar, startTestPdp, trustIdp } from "../support/pdp.js";

const SERVER = "https://docs.example.com/mcp";
const NOTIFIER = "spiffe://dev.mcp-pdp.local/agent/research-notifier";

test("a withdrawn signing key stops high-impact calls at once, while harmless calls may ride the token cache", async () => {
  const idp = await startJwksServer({ keepOldKey: false });
  const dev = devIdentityConfig();
  const pdp = await startTestPdp({
    cedarDir: copyCedar((dir) => trustIdp(dir, idp.issuer)),
    sessions: { required: false },
    identity: { userIssuers: [{ issuer: idp.issuer, jwksUri: idp.jwksUri }], workloadIssuers: dev.workloadIssuers, jwksCacheMaxAgeSeconds: 1, jwksCooldownSeconds: 0 },
  });
  try {
    const now = Math.floor(Date.now() / 1000);
    const userToken = await idp.sign({ sub: "alice", aud: SERVER, client_id: "dev-client", iat: now, exp: now + 300 });
    const workloadToken = await mintDevToken("workload", { subject: NOTIFIER });
    const ask = (tool: string) =>
      pdp.authz.authorize({ userToken, workloadToken, clientId: "dev-client", serverId: SERVER, action: Action.CALL_TOOL, tool, purpose: "research" });
    assert.equal((await ask("search_documents")).decision, Decision.ALLOW);
    assert.equal((await ask("send_message")).decision, Decision.ALLOW);

    await idp.rotate(); // the old key is no longer published
    await new Promise((r) => setTimeout(r, 1200)); // the JWKS cache ages out

    assert.equal((await ask("search_documents")).decision, Decision.ALLOW, "a harmless call may use the verified-token cache");
    const egress = await ask("send_message");
    assert.equal(egress.decision, Decision.DENY, "an egress call is verified afresh");
    assert.equal(egress.reasonCode, ReasonCode.TOKEN_INVALID);
  } finally {
    await pdp.close();
    await idp.close();
  }
});
