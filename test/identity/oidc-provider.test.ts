import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createTokenVerifier } from "../../src/identity/token-verifier.js";
import type { TokenVerifier } from "../../src/identity/types.js";
import { startOidcProvider } from "../support/oidc-provider.js";
import type { OidcProvider } from "../support/oidc-provider.js";
import { OTHER_SERVER_URI, PDP_AUDIENCE, SERVER_URI, assertRefused } from "./fixtures.js";

describe("access tokens from a real oidc-provider (client credentials + resource indicators)", () => {
  let idp: OidcProvider;
  let verifier: TokenVerifier;
  before(async () => {
    idp = await startOidcProvider({ resources: [SERVER_URI, OTHER_SERVER_URI], scopes: ["tools:call", "files:read"] });
    const issuer = { issuer: idp.issuer, jwksUri: idp.jwksUri, algorithms: ["ES256"], requiredClaims: ["jti"], audiences: [] };
    verifier = createTokenVerifier(
      {
        userIssuers: [issuer],
        workloadIssuers: [],
        callerIssuers: [],
        pdpAudience: PDP_AUDIENCE,
        maxTokenLifetimeSeconds: 3600,
        clockSkewSeconds: 30,
        tokenCacheSize: 100,
        jwksCooldownSeconds: 30,
        jwksCacheMaxAgeSeconds: 600,
        jwksTimeoutMs: 5000,
        jwksFailureThreshold: 1,
        jwksProbeIntervalMs: 1000,
        jwksProbeMaxIntervalMs: 5000,
        requireExactAudience: false,
      },
      { operators: [] },
    );
  });
  after(() => idp.close());

  test("verifyUser accepts the token for the resource it was issued for", async () => {
    const token = await idp.getToken(SERVER_URI, "tools:call");
    const user = await verifier.verifyUser(token, SERVER_URI);
    assert.equal(user.issuer, idp.issuer);
    assert.equal(user.clientId, idp.clientId);
    assert.deepEqual(user.audience, [SERVER_URI]);
    assert.deepEqual(user.scopes, ["tools:call"]);
    assert.equal(typeof user.tokenId, "string");
  });

  test("verifyUser refuses the same token for another MCP server (no token passthrough)", async () => {
    const token = await idp.getToken(SERVER_URI, "tools:call");
    await assertRefused(verifier.verifyUser(token, OTHER_SERVER_URI), "AUDIENCE_MISMATCH", /audience/, token);
    const other = await idp.getToken(OTHER_SERVER_URI);
    assert.deepEqual((await verifier.verifyUser(other, OTHER_SERVER_URI)).audience, [OTHER_SERVER_URI]);
    await assertRefused(verifier.verifyUser(other, SERVER_URI), "AUDIENCE_MISMATCH", /audience/);
  });
});
