import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { SignJWT, base64url } from "jose";
import { createTokenVerifier } from "../../src/identity/token-verifier.js";
import { startJwksServer } from "../support/jwks-server.js";
import type { JwksServer } from "../support/jwks-server.js";
import { OTHER_SERVER_URI, PDP_AUDIENCE, SERVER_URI, T0, assertRefused, claims, frozenClock, identityConfig, jwksIssuer } from "./fixtures.js";

describe("verifyUser", () => {
  let jwks: JwksServer;
  before(async () => {
    jwks = await startJwksServer();
  });
  after(() => jwks.close());

  const verifier = (overrides = {}, now = () => T0) =>
    createTokenVerifier(identityConfig(jwks, overrides), { operators: [], now });

  test("accepts a valid token and returns its verified facts", async () => {
    const token = await jwks.sign(claims({ scope: "tools:call  files:read", jti: "t-1", aud: [SERVER_URI, "x"] }));
    const user = await verifier().verifyUser(token, SERVER_URI);
    assert.deepEqual(user, {
      issuer: jwks.issuer,
      subject: "alice",
      clientId: "client-1",
      audience: [SERVER_URI, "x"],
      scopes: ["tools:call", "files:read"],
      tokenId: "t-1",
      issuedAt: T0,
      expiresAt: T0 + 300,
    });
  });

  test("clientId falls back to azp; scopes may come from scp", async () => {
    const token = await jwks.sign(claims({ client_id: undefined, azp: "client-azp", scp: ["a", "b"] }));
    const user = await verifier().verifyUser(token, SERVER_URI);
    assert.equal(user.clientId, "client-azp");
    assert.deepEqual(user.scopes, ["a", "b"]);
    assert.equal(user.tokenId, undefined);
  });

  test("refuses a token for another MCP server (audience binding)", async () => {
    const token = await jwks.sign(claims({ aud: OTHER_SERVER_URI }));
    await assertRefused(verifier().verifyUser(token, SERVER_URI), "AUDIENCE_MISMATCH", /audience/, token);
  });

  test("audience must match exactly, not by prefix", async () => {
    const token = await jwks.sign(claims({ aud: `${SERVER_URI}/extra` }));
    await assertRefused(verifier().verifyUser(token, SERVER_URI), "AUDIENCE_MISMATCH", /audience/, token);
  });

  test("refuses an expired token", async () => {
    const token = await jwks.sign(claims({ iat: T0 - 400, exp: T0 - 31 }));
    await assertRefused(verifier().verifyUser(token, SERVER_URI), "TOKEN_EXPIRED", /expired/, token);
  });

  test("tolerates expiry within the clock skew", async () => {
    const token = await jwks.sign(claims({ iat: T0 - 400, exp: T0 - 29 }));
    await verifier().verifyUser(token, SERVER_URI);
  });

  test("the clock skew is capped at 60 seconds", async () => {
    const token = await jwks.sign(claims({ iat: T0 - 400, exp: T0 - 61 }));
    await assertRefused(verifier({ clockSkewSeconds: 600 }).verifyUser(token, SERVER_URI), "TOKEN_EXPIRED", /expired/);
  });

  test("refuses a token whose nbf is in the future beyond the skew", async () => {
    const token = await jwks.sign(claims({ nbf: T0 + 31 }));
    await assertRefused(verifier().verifyUser(token, SERVER_URI), "TOKEN_INVALID", /not yet valid/, token);
  });

  test("refuses a token issued in the future beyond the skew", async () => {
    const token = await jwks.sign(claims({ iat: T0 + 31, exp: T0 + 300 }));
    await assertRefused(verifier().verifyUser(token, SERVER_URI), "TOKEN_INVALID", /not yet valid/, token);
  });

  test("refuses a token whose lifetime exceeds the maximum", async () => {
    const token = await jwks.sign(claims({ iat: T0, exp: T0 + 3601 }));
    await assertRefused(verifier().verifyUser(token, SERVER_URI), "TOKEN_INVALID", /lifetime exceeds the maximum of 3600/, token);
    const shorter = await jwks.sign(claims({ iat: T0, exp: T0 + 601 }));
    await assertRefused(verifier({ maxTokenLifetimeSeconds: 600 }).verifyUser(shorter, SERVER_URI), "TOKEN_INVALID", /lifetime/);
  });

  test("accepts a token of exactly the maximum lifetime", async () => {
    const token = await jwks.sign(claims({ iat: T0, exp: T0 + 3600 }));
    await verifier().verifyUser(token, SERVER_URI);
  });

  test("refuses a token from an unknown issuer", async () => {
    const token = await jwks.sign(claims({ iss: "https://evil.example.test" }));
    await assertRefused(verifier().verifyUser(token, SERVER_URI), "TOKEN_INVALID", /untrusted token issuer/, token);
  });

  test("selects the issuer config by the token's iss", async () => {
    const second = await startJwksServer({ issuer: "https://second.example.test", alg: "RS256" });
    try {
      const v = verifier({ userIssuers: [jwksIssuer(jwks), jwksIssuer(second)] });
      assert.equal((await v.verifyUser(await second.sign(claims()), SERVER_URI)).issuer, "https://second.example.test");
      assert.equal((await v.verifyUser(await jwks.sign(claims()), SERVER_URI)).issuer, jwks.issuer);
      const crossed = await jwks.sign(claims({ iss: "https://second.example.test" }));
      await assertRefused(v.verifyUser(crossed, SERVER_URI), "TOKEN_INVALID", /algorithm is not allowed|signing key is not known/);
    } finally {
      await second.close();
    }
  });

  test("refuses a token from a workload-only issuer", async () => {
    const token = await jwks.sign(claims());
    const v = verifier({ userIssuers: [jwksIssuer(jwks, { issuer: "https://users.example.test" })] });
    await assertRefused(v.verifyUser(token, SERVER_URI), "TOKEN_INVALID", /untrusted token issuer/);
  });

  test("refuses alg none, even when an issuer lists it", async () => {
    const token = jwks.unsigned(claims());
    const v = verifier({ userIssuers: [jwksIssuer(jwks, { algorithms: ["none", "ES256"] })] });
    await assertRefused(v.verifyUser(token, SERVER_URI), "TOKEN_INVALID", /unsigned tokens are refused/, token);
  });

  test("refuses HS256 signed with the issuer's public key as the HMAC secret", async () => {
    const secret = await jwks.publicKeyPem();
    const token = await new SignJWT(claims({ iss: jwks.issuer }))
      .setProtectedHeader({ alg: "HS256", kid: jwks.kid })
      .sign(secret);
    const v = verifier({ userIssuers: [jwksIssuer(jwks, { algorithms: ["ES256", "HS256"] })] });
    await assertRefused(v.verifyUser(token, SERVER_URI), "TOKEN_INVALID", /algorithm is not allowed/, token);
  });

  test("an issuer with a shared secret accepts only HS tokens made with that secret", async () => {
    const secret = new Uint8Array(32).fill(7);
    const issuer = { issuer: "https://hs.example.test", sharedSecret: base64url.encode(secret), algorithms: ["HS256", "ES256"], requiredClaims: [], audiences: [] };
    const v = verifier({ userIssuers: [issuer] });
    const good = await new SignJWT(claims({ iss: issuer.issuer })).setProtectedHeader({ alg: "HS256" }).sign(secret);
    assert.equal((await v.verifyUser(good, SERVER_URI)).issuer, issuer.issuer);
    const bad = await new SignJWT(claims({ iss: issuer.issuer })).setProtectedHeader({ alg: "HS256" }).sign(new Uint8Array(32).fill(8));
    await assertRefused(v.verifyUser(bad, SERVER_URI), "TOKEN_INVALID", /signature is invalid/, bad);
    const asymmetric = await jwks.sign(claims({ iss: issuer.issuer }));
    await assertRefused(v.verifyUser(asymmetric, SERVER_URI), "TOKEN_INVALID", /algorithm is not allowed/);
  });

  test("refuses a tampered signature", async () => {
    const token = await jwks.sign(claims());
    const [h, p, s] = token.split(".") as [string, string, string];
    const sig = base64url.decode(s);
    sig[0] = (sig[0] ?? 0) ^ 0xff;
    const tampered = `${h}.${p}.${base64url.encode(sig)}`;
    await assertRefused(verifier().verifyUser(tampered, SERVER_URI), "TOKEN_INVALID", /signature is invalid/, tampered);
  });

  test("refuses a tampered payload", async () => {
    const token = await jwks.sign(claims());
    const [h, , s] = token.split(".") as [string, string, string];
    const payload = base64url.encode(JSON.stringify(claims({ iss: jwks.issuer, sub: "mallory" })));
    await assertRefused(verifier().verifyUser(`${h}.${payload}.${s}`, SERVER_URI), "TOKEN_INVALID", /signature is invalid/);
  });

  test("refuses an unknown kid", async () => {
    const token = await jwks.sign(claims(), { header: { kid: "no-such-key" } });
    await assertRefused(verifier().verifyUser(token, SERVER_URI), "TOKEN_INVALID", /signing key is not known/, token);
  });

  test("refuses garbage", async () => {
    await assertRefused(verifier().verifyUser("not.a.jwt", SERVER_URI), "TOKEN_INVALID", /malformed/);
    await assertRefused(verifier().verifyUser("", SERVER_URI), "TOKEN_INVALID", /malformed/);
  });

  test("requires iss, sub, exp, iat and the issuer's required claims", async () => {
    const noSub = await jwks.sign(claims({ sub: undefined }));
    await assertRefused(verifier().verifyUser(noSub, SERVER_URI), "TOKEN_INVALID", /claims are missing/);
    const noIat = await jwks.sign(claims({ iat: undefined }));
    await assertRefused(verifier().verifyUser(noIat, SERVER_URI), "TOKEN_INVALID", /claims are missing/);
    const v = verifier({ userIssuers: [jwksIssuer(jwks, { requiredClaims: ["jti"] })] });
    await assertRefused(v.verifyUser(await jwks.sign(claims()), SERVER_URI), "TOKEN_INVALID", /claims are missing/);
    await v.verifyUser(await jwks.sign(claims({ jti: "j" })), SERVER_URI);
  });

  test("refuses an algorithm the issuer does not list", async () => {
    const v = verifier({ userIssuers: [jwksIssuer(jwks, { algorithms: ["RS256"] })] });
    const token = await jwks.sign(claims());
    await assertRefused(v.verifyUser(token, SERVER_URI), "TOKEN_INVALID", /algorithm is not allowed/);
  });

  test("the frozen clock decides, not the system clock", async () => {
    const clock = frozenClock(T0 + 10_000);
    const token = await jwks.sign(claims());
    await assertRefused(verifier({}, clock.now).verifyUser(token, SERVER_URI), "TOKEN_EXPIRED", /expired/);
  });
});

describe("verifyUser without an audience", () => {
  test("a token with no aud is an audience mismatch", async () => {
    const jwks = await startJwksServer();
    try {
      const token = await jwks.sign(claims({ aud: undefined }));
      const v = createTokenVerifier(identityConfig(jwks), { operators: [], now: () => T0 });
      await assertRefused(v.verifyUser(token, SERVER_URI), "AUDIENCE_MISMATCH", /audience/, token);
    } finally {
      await jwks.close();
    }
  });
});

describe("identity.requireExactAudience", () => {
  let jwks: JwksServer;
  before(async () => {
    jwks = await startJwksServer();
  });
  after(() => jwks.close());

  const verifier = (requireExactAudience?: boolean) =>
    createTokenVerifier(identityConfig(jwks, requireExactAudience === undefined ? {} : { requireExactAudience }), { operators: [], now: () => T0 });

  test("off (the default): a token whose aud lists this server and others is accepted", async () => {
    const token = await jwks.sign(claims({ aud: [SERVER_URI, OTHER_SERVER_URI] }));
    assert.deepEqual((await verifier().verifyUser(token, SERVER_URI)).audience, [SERVER_URI, OTHER_SERVER_URI]);
    assert.deepEqual((await verifier(false).verifyUser(token, SERVER_URI)).audience, [SERVER_URI, OTHER_SERVER_URI]);
  });

  test("on: a token whose aud lists this server and others is AUDIENCE_MISMATCH", async () => {
    for (const aud of [[SERVER_URI, OTHER_SERVER_URI], [OTHER_SERVER_URI, SERVER_URI], [SERVER_URI, SERVER_URI]]) {
      const token = await jwks.sign(claims({ aud }));
      await assertRefused(verifier(true).verifyUser(token, SERVER_URI), "AUDIENCE_MISMATCH", /exactly/, token);
    }
  });

  test("on: aud equal to this server, as a string or a one-element list, is accepted", async () => {
    for (const aud of [SERVER_URI, [SERVER_URI]]) {
      const user = await verifier(true).verifyUser(await jwks.sign(claims({ aud })), SERVER_URI);
      assert.deepEqual(user.audience, [SERVER_URI]);
    }
  });

  test("on: a token for another server alone is still refused", async () => {
    const token = await jwks.sign(claims({ aud: OTHER_SERVER_URI }));
    await assertRefused(verifier(true).verifyUser(token, SERVER_URI), "AUDIENCE_MISMATCH", /audience/, token);
  });

  test("the workload and caller audiences are not affected", async () => {
    const v = verifier(true);
    const svid = await jwks.sign({ sub: "spiffe://prod.example.test/agent/a", aud: [PDP_AUDIENCE, OTHER_SERVER_URI], iat: T0, exp: T0 + 300 });
    await v.verifyWorkload(svid, SERVER_URI);
    await v.verifyCaller(await jwks.sign({ sub: SERVER_URI, aud: [PDP_AUDIENCE, OTHER_SERVER_URI], iat: T0, exp: T0 + 300 }));
  });
});
