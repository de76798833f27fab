/**
 * A user token from a real OAuth server (oidc-provider: client credentials with a resource
 * indicator, RFC 8707/9068) through the official MCP client, the PEP and the PDP.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { devIdentityConfig, mintDevToken } from "../../src/identity/dev-issuer.js";
import { startOidcProvider, type OidcProvider } from "../support/oidc-provider.js";
import { copyCedar, trustIdp } from "../support/pdp.js";
import { SERVER, call, startStack, type Stack } from "./support/harness.js";

const OTHER = "https://billing.example.com/mcp";
let oauth: OidcProvider;
let stack: Stack;

before(async () => {
  oauth = await startOidcProvider({ resources: [SERVER, OTHER] });
  const dev = devIdentityConfig();
  stack = await startStack({
    cedarDir: copyCedar((dir) => trustIdp(dir, oauth.issuer)),
    identity: { ...dev, userIssuers: [{ issuer: oauth.issuer, jwksUri: oauth.jwksUri }] },
  });
});
after(async () => {
  await stack?.close();
  await oauth?.close();
});

const identity = async (userToken: string) => ({
  userToken,
  workloadToken: await mintDevToken("workload"),
  clientId: oauth.clientId,
  purpose: "research",
});

test("a real access token for this server: ALLOW, recorded with the real IdP and client", async () => {
  const client = await stack.connect(await identity(await oauth.getToken(SERVER)));
  const { result, decision } = await call(client, "search_documents", { query: "cedar" });
  assert.equal(decision.decision, "ALLOW", decision.message);
  assert.equal(result.isError, undefined);
  const record = (await stack.pdp.records()).find((r) => r.decisionId === decision.decisionId)!;
  assert.equal(record.idp, oauth.issuer);
  assert.equal(record.clientId, oauth.clientId);
});

test("a real token minted for another MCP server is refused here (no token passthrough)", async () => {
  const client = await stack.connect(await identity(await oauth.getToken(OTHER)));
  const { result, decision } = await call(client, "search_documents", { query: "cedar" });
  assert.equal(result.isError, true);
  assert.equal(decision.reasonCode, "AUDIENCE_MISMATCH");
  assert.equal(stack.docs.effects.length, 1, "only the allowed call of the first test ran");
});

test("a declared client id that is not the token's is refused", async () => {
  const client = await stack.connect({ ...(await identity(await oauth.getToken(SERVER))), clientId: "someone-else" });
  const { decision } = await call(client, "search_documents", { query: "cedar" });
  assert.equal(decision.reasonCode, "CLIENT_MISMATCH");
});
