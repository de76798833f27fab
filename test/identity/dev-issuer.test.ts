import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { decodeJwt, decodeProtectedHeader } from "jose";
import {
  DEV_ISSUER,
  DEV_MCP_SERVER_URI,
  DEV_PDP_AUDIENCE,
  DEV_TRUST_DOMAIN,
  devIdentityConfig,
  mintDevToken,
} from "../../src/identity/dev-issuer.js";
import { createTokenVerifier } from "../../src/identity/token-verifier.js";
import { assertRefused } from "./fixtures.js";

describe("development issuer", () => {
  const verifier = () => createTokenVerifier(devIdentityConfig(), { operators: ["ops"] });

  test("its config trusts only the dev issuer, with an inline public JWKS", () => {
    const config = devIdentityConfig();
    for (const issuer of [...config.userIssuers, ...config.workloadIssuers, ...config.callerIssuers]) {
      assert.equal(issuer.issuer, DEV_ISSUER);
      assert.ok(issuer.jwks?.keys.every((k) => k.d === undefined));
    }
    assert.deepEqual(config.workloadIssuers[0]?.trustDomains, [DEV_TRUST_DOMAIN]);
    assert.equal(config.pdpAudience, DEV_PDP_AUDIENCE);
  });

  test("minted user tokens verify, with the documented defaults", async () => {
    const token = await mintDevToken("user", { scopes: ["tools:call"], jti: "dev-1" });
    assert.equal(decodeProtectedHeader(token).typ, "at+jwt");
    const user = await verifier().verifyUser(token, DEV_MCP_SERVER_URI);
    assert.equal(user.subject, "alice");
    assert.equal(user.clientId, "dev-client");
    assert.deepEqual(user.scopes, ["tools:call"]);
    assert.equal(user.tokenId, "dev-1");
    assert.equal(user.expiresAt - user.issuedAt, 900);
  });

  test("minted workload tokens verify, directly and delegated", async () => {
    const direct = await verifier().verifyWorkload(await mintDevToken("workload"), DEV_MCP_SERVER_URI);
    assert.equal(direct.agentId, `spiffe://${DEV_TRUST_DOMAIN}/agent/research-assistant`);
    const agent = `spiffe://${DEV_TRUST_DOMAIN}/agent/other`;
    const delegated = await verifier().verifyWorkload(
      await mintDevToken("workload", { subject: "alice", act: { sub: agent } }),
      DEV_MCP_SERVER_URI,
    );
    assert.deepEqual([delegated.agentId, delegated.delegated], [agent, true]);
  });

  test("minted caller tokens verify", async () => {
    const caller = await verifier().verifyCaller(await mintDevToken("caller", { subject: "ops" }));
    assert.deepEqual(caller, { id: "ops", via: "jwt", operator: true });
  });

  test("options are honoured and extra claims cannot override iss/exp", async () => {
    const token = await mintDevToken("user", {
      audience: ["https://a.test/mcp", "https://b.test/mcp"],
      ttlSeconds: 60,
      extra: { iss: "https://evil.test", exp: 1, tenant: "t1" },
      issuedAt: 1_800_000_000,
    });
    const payload = decodeJwt(token);
    assert.equal(payload.iss, DEV_ISSUER);
    assert.equal(payload.exp, 1_800_000_060);
    assert.equal(payload.tenant, "t1");
    assert.deepEqual(payload.aud, ["https://a.test/mcp", "https://b.test/mcp"]);
  });

  test("a dev token over the maximum lifetime is refused", async () => {
    const token = await mintDevToken("user", { ttlSeconds: 7200 });
    await assertRefused(verifier().verifyUser(token, DEV_MCP_SERVER_URI), "TOKEN_INVALID", /lifetime/, token);
  });
});
