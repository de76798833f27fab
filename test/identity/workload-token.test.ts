import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { createTokenVerifier } from "../../src/identity/token-verifier.js";
import { startJwksServer } from "../support/jwks-server.js";
import type { JwksServer } from "../support/jwks-server.js";
import { AGENT_ID, OTHER_SERVER_URI, PDP_AUDIENCE, SERVER_URI, T0, TRUST_DOMAIN, assertRefused, identityConfig, workloadIssuer } from "./fixtures.js";

describe("verifyWorkload", () => {
  let jwks: JwksServer;
  before(async () => {
    jwks = await startJwksServer({ alg: "EdDSA" });
  });
  after(() => jwks.close());

  const verifier = (overrides = {}) => createTokenVerifier(identityConfig(jwks, overrides), { operators: [], now: () => T0 });
  const svid = (extra: Record<string, unknown> = {}) =>
    jwks.sign({ sub: AGENT_ID, aud: PDP_AUDIENCE, iat: T0, exp: T0 + 300, ...extra });

  test("accepts a JWT-SVID whose sub is a SPIFFE ID in a trusted domain", async () => {
    const workload = await verifier().verifyWorkload(await svid({ jti: "w-1" }), SERVER_URI);
    assert.deepEqual(workload, {
      agentId: AGENT_ID,
      trustDomain: TRUST_DOMAIN,
      issuer: jwks.issuer,
      delegated: false,
      tokenId: "w-1",
      issuedAt: T0,
      expiresAt: T0 + 300,
    });
  });

  test("takes the identity from act.sub of a delegated (RFC 8693) token", async () => {
    const token = await svid({ sub: "alice", act: { sub: AGENT_ID } });
    const workload = await verifier().verifyWorkload(token, SERVER_URI);
    assert.equal(workload.agentId, AGENT_ID);
    assert.equal(workload.delegated, true);
  });

  test("accepts the server URI as audience", async () => {
    await verifier().verifyWorkload(await svid({ aud: SERVER_URI }), SERVER_URI);
  });

  test("refuses any other audience", async () => {
    const token = await svid({ aud: OTHER_SERVER_URI });
    await assertRefused(verifier().verifyWorkload(token, SERVER_URI), "AUDIENCE_MISMATCH", /audience/, token);
  });

  test("refuses an untrusted trust domain", async () => {
    const token = await svid({ sub: "spiffe://evil.example.test/agent/research-assistant" });
    await assertRefused(verifier().verifyWorkload(token, SERVER_URI), "TOKEN_INVALID", /untrusted trust domain/, token);
    const delegated = await svid({ sub: "alice", act: { sub: "spiffe://evil.example.test/agent/x" } });
    await assertRefused(verifier().verifyWorkload(delegated, SERVER_URI), "TOKEN_INVALID", /untrusted trust domain/);
  });

  test("trust domains are per issuer", async () => {
    const v = verifier({ workloadIssuers: [workloadIssuer(jwks, { trustDomains: ["other.example.test"] })] });
    await assertRefused(v.verifyWorkload(await svid(), SERVER_URI), "TOKEN_INVALID", /untrusted trust domain/);
  });

  for (const sub of [
    "spiffe://PROD.example.test/agent/x",
    "spiffe://prod.example.test",
    "spiffe://prod.example.test/",
    "spiffe://prod.example.test/agent/../admin",
    "spiffe://prod.example.test:443/agent/x",
    "spiffe://user@prod.example.test/agent/x",
    "spiffe://prod.example.test/agent/x?q=1",
    "https://prod.example.test/agent/x",
    "alice",
  ]) {
    test(`refuses a workload identity that is not a valid SPIFFE ID: ${sub}`, async () => {
      const token = await svid({ sub });
      await assertRefused(verifier().verifyWorkload(token, SERVER_URI), "TOKEN_INVALID", /not a valid SPIFFE ID/, token);
    });
  }

  test("refuses a workload token from a user-only issuer", async () => {
    const v = verifier({ workloadIssuers: [workloadIssuer(jwks, { issuer: "https://workloads.example.test" })] });
    await assertRefused(v.verifyWorkload(await svid(), SERVER_URI), "TOKEN_INVALID", /untrusted token issuer/);
  });

  test("refuses an expired workload token", async () => {
    const token = await svid({ iat: T0 - 600, exp: T0 - 60 });
    await assertRefused(verifier().verifyWorkload(token, SERVER_URI), "TOKEN_EXPIRED", /expired/);
  });
});
