/**
 * An identity provider whose JWKS endpoint hangs, refuses connections or answers 500 is
 * IDP_UNAVAILABLE — never TOKEN_INVALID — and, once known to be down, costs no fetch timeout per
 * call: calls fail fast while a background probe waits for it to come back. A token that fails
 * verification against a reachable IdP stays TOKEN_INVALID, whatever kid it names.
 *
 * Fail-fast is shown by the count of fetches that reached the endpoint and by an injected clock,
 * never by how long a call took.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { createTokenVerifier } from "../../src/identity/token-verifier.js";
import type { IdentityConfig } from "../../src/config/types.js";
import type { IdpStatus, TokenVerifier } from "../../src/identity/types.js";
import { startJwksServer } from "../support/jwks-server.js";
import type { JwksServer } from "../support/jwks-server.js";
import { AGENT_ID, PDP_AUDIENCE, SERVER_URI, T0, assertRefused, claims, identityConfig, jwksIssuer } from "./fixtures.js";

/** Long enough that the real probe timer never fires during a test: the injected clock decides. */
const NEVER_BY_ITSELF = 600_000;

/**
 * A verifier with an injected millisecond clock for its IdP breaker. The fetch timeout is generous
 * (an endpoint that answers must not time out on a busy machine); hanging tests shorten it.
 */
function verifierWithClock(jwks: JwksServer, overrides: Partial<IdentityConfig> = {}) {
  let ms = 1_000_000;
  const v = createTokenVerifier(
    identityConfig(jwks, { jwksTimeoutMs: 10_000, jwksProbeIntervalMs: NEVER_BY_ITSELF, jwksProbeMaxIntervalMs: 4 * NEVER_BY_ITSELF, tokenCacheSize: 0, ...overrides }),
    { operators: [], now: () => T0, nowMs: () => ms },
  );
  return { v, advance: (by: number) => void (ms += by) };
}

function statusOf(v: TokenVerifier, issuer: string): IdpStatus {
  const status = v.idpStatus().find((s) => s.issuer === issuer);
  assert.ok(status, `no IdP status for ${issuer}`);
  return status;
}

/** Polls until `ok()` holds; fails (never hangs) after a generous bound. */
async function waitUntil(ok: () => boolean, what: string, boundMs = 15_000): Promise<void> {
  const deadline = Date.now() + boundMs;
  while (!ok()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

describe("JWKS endpoint unavailable", { timeout: 120_000 }, () => {
  let jwks: JwksServer;
  before(async () => {
    jwks = await startJwksServer();
  });
  after(() => jwks.close());

  const user = () => jwks.sign(claims());

  test("a hanging JWKS: the first call waits for the fetch timeout, every later call fails fast, all IDP_UNAVAILABLE", async () => {
    const hanging = await startJwksServer();
    const { v } = verifierWithClock(hanging, { jwksTimeoutMs: 300 });
    try {
      hanging.setMode("hang");
      const token = await hanging.sign(claims());
      await assertRefused(v.verifyUser(token, SERVER_URI), "IDP_UNAVAILABLE", /identity provider/, token);
      assert.equal(hanging.fetches, 1);
      assert.equal(statusOf(v, hanging.issuer).state, "down");
      for (let i = 0; i < 20; i++) await assertRefused(v.verifyUser(token, SERVER_URI), "IDP_UNAVAILABLE", /identity provider/, token);
      const concurrent = await Promise.allSettled(Array.from({ length: 20 }, () => v.verifyUser(token, SERVER_URI)));
      assert.ok(concurrent.every((r) => r.status === "rejected" && (r.reason as { code?: string }).code === "IDP_UNAVAILABLE"));
      assert.equal(hanging.fetches, 1, "a call while the IdP is known to be down fetched (and waited) again");
      const status = statusOf(v, hanging.issuer);
      assert.equal(status.failures, 1);
      // Concurrent calls share one (refused) jose fetch: at least the 20 sequential ones were counted.
      assert.ok(status.rejected >= 21, `rejected ${status.rejected}`);
      assert.match(status.lastError ?? "", /timed out/);
    } finally {
      await v.close();
      await hanging.close();
    }
  });

  test("a JWKS answering 500 is IDP_UNAVAILABLE; it comes back by itself once the endpoint answers", async () => {
    const failing = await startJwksServer();
    const { v, advance } = verifierWithClock(failing);
    try {
      failing.setMode("error500");
      const token = await failing.sign(claims());
      await assertRefused(v.verifyUser(token, SERVER_URI), "IDP_UNAVAILABLE", /identity provider/, token);
      await assertRefused(v.verifyUser(token, SERVER_URI), "IDP_UNAVAILABLE", /identity provider/, token);
      assert.equal(failing.fetches, 1);
      assert.match(statusOf(v, failing.issuer).lastError ?? "", /HTTP 500/);

      failing.setMode("serve");
      advance(NEVER_BY_ITSELF - 1);
      await assertRefused(v.verifyUser(token, SERVER_URI), "IDP_UNAVAILABLE", /identity provider/, token);
      assert.equal(failing.fetches, 1, "probed before the probe interval had passed");
      advance(1);
      // Due: this call starts the probe in the background and does not wait for it.
      await assertRefused(v.verifyUser(token, SERVER_URI), "IDP_UNAVAILABLE", /identity provider/, token);
      await waitUntil(() => statusOf(v, failing.issuer).state === "up", "the IdP to be up again");
      assert.equal((await v.verifyUser(token, SERVER_URI)).subject, "alice");
      assert.equal(statusOf(v, failing.issuer).consecutiveFailures, 0);
    } finally {
      await v.close();
      await failing.close();
    }
  });

  test("refused connections are IDP_UNAVAILABLE; recovery once it listens again", async () => {
    const refusing = await startJwksServer();
    const { v, advance } = verifierWithClock(refusing);
    try {
      const token = await refusing.sign(claims());
      await refusing.refuseConnections();
      await assertRefused(v.verifyUser(token, SERVER_URI), "IDP_UNAVAILABLE", /identity provider/, token);
      for (let i = 0; i < 10; i++) await assertRefused(v.verifyUser(token, SERVER_URI), "IDP_UNAVAILABLE", /identity provider/);
      const down = statusOf(v, refusing.issuer);
      assert.equal(down.state, "down");
      assert.equal(down.failures, 1, "each call tried to connect again");
      assert.equal(down.rejected, 10);
      assert.match(down.lastError ?? "", /connection failed/);

      await refusing.acceptConnections();
      advance(NEVER_BY_ITSELF);
      await assertRefused(v.verifyUser(token, SERVER_URI), "IDP_UNAVAILABLE", /identity provider/);
      await waitUntil(() => statusOf(v, refusing.issuer).state === "up", "the IdP to be up again");
      assert.equal((await v.verifyUser(token, SERVER_URI)).subject, "alice");
    } finally {
      await v.close();
      await refusing.close();
    }
  });

  test("a 200 whose body is not a JWKS is IDP_UNAVAILABLE", async () => {
    const garbage = await startJwksServer();
    const { v } = verifierWithClock(garbage);
    try {
      garbage.setMode("garbage");
      await assertRefused(v.verifyUser(await garbage.sign(claims()), SERVER_URI), "IDP_UNAVAILABLE", /identity provider/);
      assert.match(statusOf(v, garbage.issuer).lastError ?? "", /not a JWKS/);
    } finally {
      await v.close();
      await garbage.close();
    }
  });

  test("recovery needs no traffic: the background probe finds the IdP back (real timers)", async () => {
    const failing = await startJwksServer();
    const v = createTokenVerifier(identityConfig(failing, { jwksTimeoutMs: 10_000, jwksProbeIntervalMs: 20, jwksProbeMaxIntervalMs: 40 }), {
      operators: [],
      now: () => T0,
    });
    const seen: string[] = [];
    let unsubscribe = () => {};
    try {
      unsubscribe = v.onIdpChange((s) => seen.push(s.state));
      failing.setMode("error500");
      await assertRefused(v.verifyUser(await failing.sign(claims()), SERVER_URI), "IDP_UNAVAILABLE", /identity provider/);
      await waitUntil(() => failing.fetches >= 3, "probes of the failing endpoint");
      failing.setMode("serve");
      await waitUntil(() => statusOf(v, failing.issuer).state === "up", "the IdP to be up again");
      assert.equal((await v.verifyUser(await failing.sign(claims()), SERVER_URI)).subject, "alice");
      assert.deepEqual(seen.slice(0, 3), ["down", "probing", "down"]);
      assert.deepEqual(seen.slice(-2), ["probing", "up"]);
    } finally {
      unsubscribe();
      await v.close();
      await failing.close();
    }
  });

  test("a failed probe doubles the wait before the next one, up to the maximum", async () => {
    const failing = await startJwksServer();
    const N = NEVER_BY_ITSELF;
    const { v, advance } = verifierWithClock(failing, { jwksProbeIntervalMs: N, jwksProbeMaxIntervalMs: 2 * N });
    const token = await failing.sign(claims());
    const failures = (n: number) => () => statusOf(v, failing.issuer).failures === n && statusOf(v, failing.issuer).state === "down";
    try {
      failing.setMode("error500");
      await assertRefused(v.verifyUser(token, SERVER_URI), "IDP_UNAVAILABLE", /identity provider/);
      advance(N);
      await assertRefused(v.verifyUser(token, SERVER_URI), "IDP_UNAVAILABLE", /identity provider/);
      await waitUntil(failures(2), "the first probe to fail");
      assert.equal(failing.fetches, 2);
      // The next probe is due after twice the interval, not once.
      advance(N);
      await assertRefused(v.verifyUser(token, SERVER_URI), "IDP_UNAVAILABLE", /identity provider/);
      assert.equal(failing.fetches, 2, "probed again after one interval instead of two");
      advance(N);
      await assertRefused(v.verifyUser(token, SERVER_URI), "IDP_UNAVAILABLE", /identity provider/);
      await waitUntil(failures(3), "the second probe to fail");
      // Capped at the maximum (2 intervals), not 4.
      advance(2 * N);
      await assertRefused(v.verifyUser(token, SERVER_URI), "IDP_UNAVAILABLE", /identity provider/);
      await waitUntil(failures(4), "the third probe to fail");
      assert.equal(failing.fetches, 4);
    } finally {
      await v.close();
      await failing.close();
    }
  });

  test("jwksFailureThreshold: the IdP is down only after that many consecutive failed fetches", async () => {
    const failing = await startJwksServer();
    const { v } = verifierWithClock(failing, { jwksFailureThreshold: 3 });
    try {
      failing.setMode("error500");
      const token = await failing.sign(claims());
      for (let i = 0; i < 10; i++) await assertRefused(v.verifyUser(token, SERVER_URI), "IDP_UNAVAILABLE", /identity provider/);
      assert.equal(failing.fetches, 3);
      assert.equal(statusOf(v, failing.issuer).state, "down");
    } finally {
      await v.close();
      await failing.close();
    }
  });

  test("one breaker per JWKS endpoint: another IdP down does not touch this one; token kinds sharing an endpoint share it", async () => {
    const other = await startJwksServer({ issuer: "https://other-idp.example.test" });
    const { v } = verifierWithClock(jwks, { userIssuers: [jwksIssuer(jwks), jwksIssuer(other)] });
    try {
      other.setMode("error500");
      await assertRefused(v.verifyUser(await other.sign(claims()), SERVER_URI), "IDP_UNAVAILABLE", /identity provider/);
      assert.equal((await v.verifyUser(await user(), SERVER_URI)).subject, "alice");
      assert.deepEqual(
        v.idpStatus().map((s) => [s.issuer, s.state]).sort(),
        [[jwks.issuer, "up"], [other.issuer, "down"]].sort(),
      );
    } finally {
      await v.close();
      await other.close();
    }
    const shared = await startJwksServer();
    const { v: v2 } = verifierWithClock(shared);
    try {
      shared.setMode("error500");
      await assertRefused(v2.verifyUser(await shared.sign(claims()), SERVER_URI), "IDP_UNAVAILABLE", /identity provider/);
      const svid = await shared.sign({ sub: AGENT_ID, aud: PDP_AUDIENCE, iat: T0, exp: T0 + 300 });
      await assertRefused(v2.verifyWorkload(svid, SERVER_URI), "IDP_UNAVAILABLE", /identity provider/);
      assert.equal(shared.fetches, 1, "the workload path fetched from an endpoint known to be down");
      assert.equal(v2.idpStatus().length, 1, "one status per issuer, not per token kind");
    } finally {
      await v2.close();
      await shared.close();
    }
  });

  test("a caller's token against an unavailable IdP is IDP_UNAVAILABLE, not CALLER_UNAUTHORIZED", async () => {
    const failing = await startJwksServer();
    const { v } = verifierWithClock(failing);
    try {
      failing.setMode("error500");
      const token = await failing.sign({ sub: SERVER_URI, aud: PDP_AUDIENCE, iat: T0, exp: T0 + 300 });
      await assertRefused(v.verifyCaller(token), "IDP_UNAVAILABLE", /identity provider/, token);
      await assertRefused(v.verifyCaller(token), "IDP_UNAVAILABLE", /identity provider/, token);
    } finally {
      await v.close();
      await failing.close();
    }
  });

  test("close() stops probing", async () => {
    const failing = await startJwksServer();
    const v = createTokenVerifier(identityConfig(failing, { jwksProbeIntervalMs: 20, jwksProbeMaxIntervalMs: 20 }), { operators: [], now: () => T0 });
    try {
      failing.setMode("error500");
      await assertRefused(v.verifyUser(await failing.sign(claims()), SERVER_URI), "IDP_UNAVAILABLE", /identity provider/);
      await v.close();
      const fetches = failing.fetches;
      await sleep(200);
      assert.ok(failing.fetches <= fetches + 1, `${failing.fetches - fetches} probes after close`);
      const settled = failing.fetches;
      await sleep(200);
      assert.equal(failing.fetches, settled);
    } finally {
      await v.close();
      await failing.close();
    }
  });
});

describe("a bad token against a reachable IdP stays TOKEN_INVALID", { timeout: 60_000 }, () => {
  let jwks: JwksServer;
  before(async () => {
    jwks = await startJwksServer();
  });
  after(() => jwks.close());

  test("whatever kid it names, with or without a refetch", async () => {
    const { v } = verifierWithClock(jwks, { jwksCooldownSeconds: 0 });
    try {
      const good = await jwks.sign(claims());
      const [h, p] = good.split(".");
      const other = await jwks.sign(claims({ sub: "mallory" }));
      const badSignature = `${h}.${p}.${other.split(".")[2]}`;
      await assertRefused(v.verifyUser(badSignature, SERVER_URI), "TOKEN_INVALID", /signature is invalid/);
      const before = jwks.fetches;
      for (let i = 0; i < 10; i++) {
        const token = await jwks.sign(claims(), { header: { kid: `attacker-chosen-${i}` } });
        await assertRefused(v.verifyUser(token, SERVER_URI), "TOKEN_INVALID", /signing key is not known/);
      }
      assert.ok(jwks.fetches > before, "an unknown kid outside the cooldown refetches (the IdP really was asked)");
      const status = statusOf(v, jwks.issuer);
      assert.equal(status.state, "up");
      assert.equal(status.failures, 0);
    } finally {
      await v.close();
    }
  });

  test("while the IdP is down, a cached key still verifies and an unknown kid within the cooldown is still TOKEN_INVALID", async () => {
    const { v } = verifierWithClock(jwks, { jwksCooldownSeconds: 30 });
    try {
      await v.verifyUser(await jwks.sign(claims()), SERVER_URI);
      jwks.setMode("hang");
      const fetches = jwks.fetches;
      assert.equal((await v.verifyUser(await jwks.sign(claims({ jti: "cached-key" })), SERVER_URI)).subject, "alice");
      const unknownKid = await jwks.sign(claims(), { header: { kid: "attacker-chosen" } });
      await assertRefused(v.verifyUser(unknownKid, SERVER_URI), "TOKEN_INVALID", /signing key is not known/);
      assert.equal(jwks.fetches, fetches);
      assert.equal(statusOf(v, jwks.issuer).state, "up");
    } finally {
      jwks.setMode("serve");
      await v.close();
    }
  });

  test("idpStatus lists only issuers whose keys are fetched", async () => {
    const { v } = verifierWithClock(jwks, { callerIssuers: [jwksIssuer(jwks, { issuer: "https://inline.example.test", jwksUri: undefined, jwks: { keys: [await jwks.publicJwk()] } })] });
    try {
      assert.deepEqual(
        v.idpStatus().map((s) => ({ issuer: s.issuer, jwksUri: s.jwksUri, state: s.state })),
        [{ issuer: jwks.issuer, jwksUri: jwks.jwksUri, state: "up" }],
      );
    } finally {
      await v.close();
    }
  });
});
