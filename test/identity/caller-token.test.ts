import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createTokenVerifier } from "../../src/identity/token-verifier.js";
import { startJwksServer } from "../support/jwks-server.js";
import type { JwksServer } from "../support/jwks-server.js";
import { PDP_AUDIENCE, SERVER_URI, T0, assertRefused, identityConfig, jwksIssuer } from "./fixtures.js";

describe("verifyCaller", () => {
  let jwks: JwksServer;
  before(async () => {
    jwks = await startJwksServer({ alg: "RS256" });
  });
  after(() => jwks.close());

  const verifier = (overrides = {}) =>
    createTokenVerifier(identityConfig(jwks, overrides), { operators: ["ops@example.test"], now: () => T0 });
  const callerToken = (extra: Record<string, unknown> = {}) =>
    jwks.sign({ sub: SERVER_URI, aud: PDP_AUDIENCE, iat: T0, exp: T0 + 300, ...extra });

  test("accepts a PEP's token with the PDP audience", async () => {
    assert.deepEqual(await verifier().verifyCaller(await callerToken()), { id: SERVER_URI, via: "jwt", operator: false });
  });

  test("marks configured operators", async () => {
    const caller = await verifier().verifyCaller(await callerToken({ sub: "ops@example.test" }));
    assert.deepEqual(caller, { id: "ops@example.test", via: "jwt", operator: true });
  });

  test("refuses a caller token with the wrong audience", async () => {
    const token = await callerToken({ aud: SERVER_URI });
    await assertRefused(verifier().verifyCaller(token), "CALLER_UNAUTHORIZED", /audience/, token);
  });

  test("refuses a caller token from an issuer trusted only for users", async () => {
    const v = verifier({ callerIssuers: [jwksIssuer(jwks, { issuer: "https://callers.example.test" })] });
    await assertRefused(v.verifyCaller(await callerToken()), "CALLER_UNAUTHORIZED", /untrusted token issuer/);
  });

  test("every failure is CALLER_UNAUTHORIZED", async () => {
    await assertRefused(verifier().verifyCaller(await callerToken({ iat: T0 - 900, exp: T0 - 100 })), "CALLER_UNAUTHORIZED", /expired/);
    await assertRefused(verifier().verifyCaller("garbage"), "CALLER_UNAUTHORIZED", /malformed/);
    await assertRefused(verifier().verifyCaller(jwks.unsigned({ sub: "x", aud: PDP_AUDIENCE, iat: T0, exp: T0 + 60 })), "CALLER_UNAUTHORIZED", /unsigned/);
  });
});
