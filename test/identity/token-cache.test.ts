import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { TokenCache, tokenCacheKey } from "../../src/identity/token-cache.js";
import { createTokenVerifier } from "../../src/identity/token-verifier.js";
import { startJwksServer } from "../support/jwks-server.js";
import type { JwksServer } from "../support/jwks-server.js";
import { OTHER_SERVER_URI, SERVER_URI, T0, assertRefused, claims, frozenClock, identityConfig } from "./fixtures.js";

describe("TokenCache", () => {
  test("keys are SHA-256 digests over kind, server and token", () => {
    const key = tokenCacheKey("user", SERVER_URI, "header.payload.signature");
    assert.match(key, /^[0-9a-f]{64}$/);
    assert.notEqual(key, tokenCacheKey("workload", SERVER_URI, "header.payload.signature"));
    assert.notEqual(key, tokenCacheKey("user", OTHER_SERVER_URI, "header.payload.signature"));
    assert.notEqual(tokenCacheKey("user", "a\0b", "c"), tokenCacheKey("user", "a", "b\0c"));
  });

  test("serves an entry only while its expiry is in the future", () => {
    const cache = new TokenCache<string>(10);
    cache.set("k", "v", 100);
    assert.equal(cache.get("k", 99), "v");
    assert.equal(cache.get("k", 100), undefined);
    assert.equal(cache.size, 0);
  });

  test("evicts the oldest entry beyond its bound", () => {
    const cache = new TokenCache<string>(2);
    cache.set("a", "1", 100);
    cache.set("b", "2", 100);
    cache.set("c", "3", 100);
    assert.equal(cache.size, 2);
    assert.equal(cache.get("a", 0), undefined);
    assert.equal(cache.get("c", 0), "3");
  });

  test("size 0 keeps nothing; clear forgets everything", () => {
    const off = new TokenCache<string>(0);
    off.set("a", "1", 100);
    assert.equal(off.get("a", 0), undefined);
    const cache = new TokenCache<string>(5);
    cache.set("a", "1", 100);
    cache.clear();
    assert.equal(cache.get("a", 0), undefined);
  });
});

describe("the verifier's cache", () => {
  let jwks: JwksServer;
  before(async () => {
    jwks = await startJwksServer();
  });
  after(() => jwks.close());

  test("a second verification is served from the cache", async () => {
    const clock = frozenClock();
    const v = createTokenVerifier(identityConfig(jwks), { operators: [], now: clock.now });
    const token = await jwks.sign(claims());
    const first = await v.verifyUser(token, SERVER_URI);
    clock.set(T0 + 200);
    assert.equal(await v.verifyUser(token, SERVER_URI), first);
  });

  test("a cache hit still refuses an expired token", async () => {
    const clock = frozenClock();
    const v = createTokenVerifier(identityConfig(jwks), { operators: [], now: clock.now });
    const token = await jwks.sign(claims({ exp: T0 + 300 }));
    await v.verifyUser(token, SERVER_URI);
    clock.set(T0 + 300 + 31);
    await assertRefused(v.verifyUser(token, SERVER_URI), "TOKEN_EXPIRED", /expired/);
  });

  test("the cache is per server URI and per kind", async () => {
    const v = createTokenVerifier(identityConfig(jwks), { operators: [], now: () => T0 });
    const token = await jwks.sign(claims({ aud: SERVER_URI }));
    await v.verifyUser(token, SERVER_URI);
    await assertRefused(v.verifyUser(token, OTHER_SERVER_URI), "AUDIENCE_MISMATCH", /audience/);
    await assertRefused(v.verifyCaller(token), "CALLER_UNAUTHORIZED", /audience/);
  });

  test("dropCached forces a fresh verification", async () => {
    const v = createTokenVerifier(identityConfig(jwks), { operators: [], now: () => T0 });
    const token = await jwks.sign(claims());
    const first = await v.verifyUser(token, SERVER_URI);
    v.dropCached();
    assert.notEqual(await v.verifyUser(token, SERVER_URI), first);
  });

  test("the cache is bounded by tokenCacheSize (oldest evicted), and 0 disables it", async () => {
    const v = createTokenVerifier(identityConfig(jwks, { tokenCacheSize: 2 }), { operators: [], now: () => T0 });
    const tokens = await Promise.all([1, 2, 3].map((i) => jwks.sign(claims({ jti: `t${i}` }))));
    const results = [];
    for (const t of tokens) results.push(await v.verifyUser(t, SERVER_URI));
    assert.equal(await v.verifyUser(tokens[2]!, SERVER_URI), results[2]);
    assert.notEqual(await v.verifyUser(tokens[0]!, SERVER_URI), results[0]);
    const off = createTokenVerifier(identityConfig(jwks, { tokenCacheSize: 0 }), { operators: [], now: () => T0 });
    const once = await off.verifyUser(tokens[0]!, SERVER_URI);
    assert.notEqual(await off.verifyUser(tokens[0]!, SERVER_URI), once);
  });
});
