import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { Action, Decision, ReasonCode } from "../../src/gen/mcppdp/v1/common_pb.js";
import { devIdentityConfig, mintDevToken } from "../../src/identity/dev-issuer.js";
import { startOidcProvider, type OidcProvider } from "../support/oidc-provider.js";
import { copyCedar, startTestPdp, trustIdp, type TestPdp } from "../support/pdp.js";

const SERVER = "https://docs.example.com/mcp";
const OTHER = "https://billing.example.com/mcp";

let oauth: OidcProvider;
let pdp: TestPdp;

before(async () => {
  oauth = await startOidcProvider({ resources: [SERVER, OTHER] });
  const dev = devIdentityConfig();
  pdp = await startTestPdp({
    cedarDir: copyCedar((dir) => trustIdp(dir, oauth.issuer)),
    sessions: { required: false },
    identity: {
      userIssuers: [{ issuer: oauth.issuer, jwksUri: oauth.jwksUri }],
      workloadIssuers: dev.workloadIssuers,
    },
  });
});
after(async () => {
  await pdp.close();
  await oauth.close();
});

const ask = async (userToken: string, serverId: string) =>
  pdp.authz.authorize({
    userToken,
    workloadToken: await mintDevToken("workload"),
    clientId: oauth.clientId,
    serverId,
    action: Action.CALL_TOOL,
    tool: "search_documents",
    purpose: "research",
  });

test("a real access token from a real OAuth server (client credentials + resource indicator) is ALLOWed", async () => {
  const token = await oauth.getToken(SERVER);
  const res = await ask(token, SERVER);
  assert.equal(res.decision, Decision.ALLOW, res.message);
  const record = (await pdp.records()).find((r) => r.decisionId === res.decisionId)!;
  assert.equal(record.idp, oauth.issuer);
  assert.equal(record.clientId, oauth.clientId);
});

test("the same token presented to another server is DENY AUDIENCE_MISMATCH (no token passthrough)", async () => {
  const token = await oauth.getToken(SERVER);
  const res = await ask(token, OTHER);
  assert.equal(res.decision, Decision.DENY);
  assert.equal(res.reasonCode, ReasonCode.AUDIENCE_MISMATCH);
});

test("a token issued for another resource is DENY AUDIENCE_MISMATCH here", async () => {
  const res = await ask(await oauth.getToken(OTHER), SERVER);
  assert.equal(res.reasonCode, ReasonCode.AUDIENCE_MISMATCH);
});
