import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { PdpError } from "../../src/errors.js";
import { createTokenVerifier } from "../../src/identity/token-verifier.js";
import { startJwksServer } from "../support/jwks-server.js";
import type { JwksServer } from "../support/jwks-server.js";
import { SERVER_URI, T0, assertRefused, claims, identityConfig, jwksIssuer } from "./fixtures.js";

describe("remote JWKS", () => {
  let jwks: JwksServer;
  before(async () => {
    jwks = await startJwksServer();
  });
  after(() => jwks.close());

  test("unknown kids do not hammer the IdP: at most a couple of fetches within the cooldown", async () => {
    const v = createTokenVerifier(identityConfig(jwks, { tokenCacheSize: 0 }), { operators: [], now: () => T0 });
    const before = jwks.fetches;
    await v.verifyUser(await jwks.sign(claims()), SERVER_URI);
    const forged = await Promise.all(
      Array.from({ length: 40 }, (_, i) => jwks.sign(claims({ jti: `f${i}` }), { header: { kid: `unknown-${i}` } })),
    );
    for (const token of forged.slice(0, 20)) {
      await assertRefused(v.verifyUser(token, SERVER_URI), "TOKEN_INVALID", /signing key is not known/);
    }
    const concurrent = await Promise.allSettled(forged.slice(20).map((t) => v.verifyUser(t, SERVER_URI)));
    assert.ok(concurrent.every((r) => r.status === "rejected"));
    assert.ok(jwks.fetches - before <= 2, `JWKS fetched ${jwks.fetches - before} times`);
  });

  test("after the IdP rotates its key, tokens with the new kid verify (once the cooldown has passed)", async () => {
    const rotating = await startJwksServer({ keepOldKey: true });
    try {
      const config = identityConfig(rotating, { jwksCooldownSeconds: 0.2, tokenCacheSize: 0 });
      const v = createTokenVerifier(config, { operators: [], now: () => T0 });
      await v.verifyUser(await rotating.sign(claims()), SERVER_URI);
      await rotating.rotate();
      await sleep(250);
      const fresh = await rotating.sign(claims());
      assert.equal((await v.verifyUser(fresh, SERVER_URI)).subject, "alice");
      assert.equal((await v.verifyUser(await rotating.sign(claims(), { key: "old" }), SERVER_URI)).subject, "alice");
      assert.equal(rotating.fetches, 2);
    } finally {
      await rotating.close();
    }
  });

  test("a key the IdP has retired is refused after the refetch", async () => {
    const rotating = await startJwksServer({ keepOldKey: false });
    try {
      const v = createTokenVerifier(identityConfig(rotating, { jwksCooldownSeconds: 0.1, jwksCacheMaxAgeSeconds: 0.1, tokenCacheSize: 0 }), { operators: [], now: () => T0 });
      await v.verifyUser(await rotating.sign(claims()), SERVER_URI);
      await rotating.rotate();
      await sleep(150);
      await v.verifyUser(await rotating.sign(claims()), SERVER_URI);
      const retired = await rotating.sign(claims(), { key: "old" });
      await assertRefused(v.verifyUser(retired, SERVER_URI), "TOKEN_INVALID", /signing key is not known/);
    } finally {
      await rotating.close();
    }
  });

  test("an unreachable JWKS is IDP_UNAVAILABLE, not a verdict on the token", async () => {
    const gone = await startJwksServer();
    const token = await gone.sign(claims());
    const v = createTokenVerifier(identityConfig(gone), { operators: [], now: () => T0 });
    await gone.close();
    try {
      await assertRefused(v.verifyUser(token, SERVER_URI), "IDP_UNAVAILABLE", /identity provider/, token);
    } finally {
      await v.close();
    }
  });

  test("a JWKS that does not answer times out after jwksTimeoutMs", async () => {
    const hanging = createServer(() => {});
    await new Promise<void>((resolve) => hanging.listen(0, "127.0.0.1", resolve));
    try {
      const uri = `http://127.0.0.1:${(hanging.address() as AddressInfo).port}/jwks`;
      const config = identityConfig(jwks, { userIssuers: [jwksIssuer(jwks, { jwksUri: uri })], jwksTimeoutMs: 200 });
      const v = createTokenVerifier(config, { operators: [], now: () => T0 });
      const started = Date.now();
      await assertRefused(v.verifyUser(await jwks.sign(claims()), SERVER_URI), "IDP_UNAVAILABLE", /identity provider/);
      assert.ok(Date.now() - started < 2000);
      await v.close();
    } finally {
      hanging.closeAllConnections();
      hanging.close();
    }
  });
});

describe("issuer key configuration", () => {
  let jwks: JwksServer;
  let dir: string;
  before(async () => {
    jwks = await startJwksServer();
    dir = mkdtempSync(path.join(tmpdir(), "mcp-pdp-jwks-"));
  });
  after(async () => {
    await jwks.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const build = (extra: Record<string, unknown>) => () =>
    createTokenVerifier(identityConfig(jwks, { userIssuers: [jwksIssuer(jwks, { jwksUri: undefined, ...extra })] }), { operators: [], now: () => T0 });
  const configInvalid = (message: RegExp) => (err: unknown) =>
    err instanceof PdpError && err.code === "CONFIG_INVALID" && message.test(err.message);

  test("a JWKS URI must be https, or http on a loopback host", () => {
    assert.throws(build({ jwksUri: "http://idp.example.test/jwks" }), configInvalid(/https/));
    assert.throws(build({ jwksUri: "http://10.0.0.1/jwks" }), configInvalid(/https/));
    assert.throws(build({ jwksUri: "http://127.0.0.1.evil.test/jwks" }), configInvalid(/https/));
    assert.throws(build({ jwksUri: "file:///etc/jwks.json" }), configInvalid(/https/));
    assert.throws(build({ jwksUri: "not a url" }), configInvalid(/not a URL/));
    for (const ok of ["https://idp.example.test/jwks", "http://127.0.0.1:1/jwks", "http://localhost:1/jwks", "http://[::1]:1/jwks"]) {
      build({ jwksUri: ok })();
    }
  });

  test("an issuer needs exactly one key source", () => {
    assert.throws(build({}), configInvalid(/exactly one/));
    assert.throws(build({ jwksUri: jwks.jwksUri, jwksFile: "/x.json" }), configInvalid(/exactly one/));
  });

  test("symmetric algorithms without a shared secret leave no usable algorithm", () => {
    assert.throws(build({ jwksUri: jwks.jwksUri, algorithms: ["HS256", "none"] }), configInvalid(/no usable algorithm/));
  });

  test("a JWKS with private or symmetric keys is refused", async () => {
    assert.throws(build({ jwks: { keys: [{ kty: "oct", k: "c2VjcmV0" }] } }), configInvalid(/public keys only/));
  });

  test("a jwksFile is read once, at construction", async () => {
    const file = path.join(dir, "jwks.json");
    writeFileSync(file, JSON.stringify({ keys: [await jwks.publicJwk()] }));
    const v = build({ jwksFile: file })();
    writeFileSync(file, JSON.stringify({ keys: [] }));
    await v.verifyUser(await jwks.sign(claims()), SERVER_URI);
    assert.throws(build({ jwksFile: path.join(dir, "missing.json") }), configInvalid(/cannot read jwksFile/));
  });

  test("an inline JWKS verifies without any fetch", async () => {
    const before = jwks.fetches;
    const v = build({ jwks: { keys: [await jwks.publicJwk()] } })();
    assert.equal((await v.verifyUser(await jwks.sign(claims()), SERVER_URI)).subject, "alice");
    assert.equal(jwks.fetches, before);
  });
});
