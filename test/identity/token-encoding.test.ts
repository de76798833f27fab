/**
 * Only the canonical spelling of a compact JWS is accepted: three segments of base64url, no
 * whitespace, no padding, no characters of the standard base64 alphabet, and no unused low bits
 * set in a segment's last character. Otherwise one token would have many spellings (cache keys,
 * logs, deny lists all keyed by its string).
 */
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, test } from "node:test";
import { PdpError } from "../../src/errors.js";
import { isCanonicalCompactJws } from "../../src/identity/compact-jws.js";
import { createTokenVerifier } from "../../src/identity/token-verifier.js";
import { startJwksServer } from "../support/jwks-server.js";
import type { JwksServer } from "../support/jwks-server.js";
import { AGENT_ID, PDP_AUDIENCE, SERVER_URI, T0, assertRefused, claims, identityConfig } from "./fixtures.js";

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/** The same segment with its last character's lowest bit flipped: same decoded bytes when that bit is unused. */
function flipLastBit(segment: string): string {
  const last = ALPHABET.indexOf(segment.at(-1)!);
  return segment.slice(0, -1) + ALPHABET[last ^ 1];
}

function withSignature(token: string, edit: (signature: string) => string): string {
  const [h, p, s] = token.split(".");
  return `${h}.${p}.${edit(s!)}`;
}

/** Every lenient spelling of `token` that must be refused, by name. */
function variants(token: string): Record<string, string> {
  const [h, p, s] = token.split(".") as [string, string, string];
  return {
    "a trailing space": `${token} `,
    "a leading space": ` ${token}`,
    "a trailing newline": `${token}\n`,
    "== padding on the signature": `${token}==`,
    "= padding on the payload": `${h}.${p}=.${s}`,
    "a space inside the signature": withSignature(token, (sig) => `${sig.slice(0, 10)} ${sig.slice(10)}`),
    "a tab inside the payload": `${h}.${p.slice(0, 5)}\t${p.slice(5)}.${s}`,
    "another last character of the signature (same bytes)": withSignature(token, flipLastBit),
    "standard base64 characters in the signature": withSignature(token, (sig) => sig.replaceAll("-", "+").replaceAll("_", "/")),
    "four segments": `${token}.${s}`,
    "two segments": `${h}.${p}`,
  };
}

/** Signs until the signature holds a `-` or `_`, so that the standard-alphabet variant differs. */
async function signWithDashOrUnderscore(sign: (jti: string) => Promise<string>): Promise<string> {
  for (let i = 0; i < 200; i++) {
    const token = await sign(`e-${i}`);
    if (/[-_]/.test(token.split(".")[2]!)) return token;
  }
  throw new Error("no signature with - or _ in 200 tries");
}

describe("canonical compact JWS", { timeout: 60_000 }, () => {
  let jwks: JwksServer;
  before(async () => {
    jwks = await startJwksServer();
  });
  after(() => jwks.close());

  const verifier = () => createTokenVerifier(identityConfig(jwks), { operators: [], now: () => T0 });

  test("the variants are really the same token to a lenient decoder (the test checks something)", async () => {
    const token = await signWithDashOrUnderscore((jti) => jwks.sign(claims({ jti })));
    const sig = token.split(".")[2]!;
    const flipped = flipLastBit(sig);
    assert.notEqual(flipped, sig);
    assert.deepEqual(Buffer.from(flipped, "base64url"), Buffer.from(sig, "base64url"));
  });

  test("a user token is refused in every lenient spelling, before any key is fetched", async () => {
    const token = await signWithDashOrUnderscore((jti) => jwks.sign(claims({ jti })));
    const v = verifier();
    await v.verifyUser(token, SERVER_URI);
    const fetches = jwks.fetches;
    for (const [name, variant] of Object.entries(variants(token))) {
      const fresh = createTokenVerifier(identityConfig(jwks), { operators: [], now: () => T0 });
      await assertRefused(fresh.verifyUser(variant, SERVER_URI), "TOKEN_INVALID", /malformed \(not a canonical compact JWS\)/).catch((err: unknown) => {
        throw new Error(`${name}: ${(err as Error).message}`);
      });
      await assertRefused(v.verifyUser(variant, SERVER_URI), "TOKEN_INVALID", /malformed \(not a canonical compact JWS\)/);
    }
    assert.equal(jwks.fetches, fetches, "a non-canonical token made the verifier fetch keys");
  });

  test("a workload token is refused in every lenient spelling", async () => {
    const token = await signWithDashOrUnderscore((jti) => jwks.sign({ sub: AGENT_ID, aud: PDP_AUDIENCE, iat: T0, exp: T0 + 300, jti }));
    const v = verifier();
    await v.verifyWorkload(token, SERVER_URI);
    for (const [name, variant] of Object.entries(variants(token))) {
      await assertRefused(v.verifyWorkload(variant, SERVER_URI), "TOKEN_INVALID", /malformed \(not a canonical compact JWS\)/).catch((err: unknown) => {
        throw new Error(`${name}: ${(err as Error).message}`);
      });
    }
  });

  test("a caller token is refused in every lenient spelling (CALLER_UNAUTHORIZED)", async () => {
    const token = await signWithDashOrUnderscore((jti) => jwks.sign({ sub: SERVER_URI, aud: PDP_AUDIENCE, iat: T0, exp: T0 + 300, jti }));
    const v = verifier();
    await v.verifyCaller(token);
    for (const [name, variant] of Object.entries(variants(token))) {
      await assertRefused(v.verifyCaller(variant), "CALLER_UNAUTHORIZED", /malformed \(not a canonical compact JWS\)/).catch((err: unknown) => {
        throw new Error(`${name}: ${(err as Error).message}`);
      });
    }
  });

  test("an approver token (a user token for the PDP itself) is refused in every lenient spelling", async () => {
    const token = await signWithDashOrUnderscore((jti) => jwks.sign(claims({ aud: PDP_AUDIENCE, jti })));
    const v = verifier();
    await v.verifyUser(token, PDP_AUDIENCE, { fresh: true });
    for (const variant of Object.values(variants(token))) {
      await assertRefused(v.verifyUser(variant, PDP_AUDIENCE, { fresh: true }), "TOKEN_INVALID", /malformed \(not a canonical compact JWS\)/);
    }
  });

  test("the check is exactly 're-encoding the decoded bytes gives the same string'", () => {
    for (let i = 0; i < 2000; i++) {
      const bytes = randomBytes(i % 70);
      const canonical = bytes.toString("base64url");
      const segments = [canonical, flipLastBit(canonical || "AA"), `${canonical}A`, `${canonical}=`, ` ${canonical}`];
      for (const segment of segments) {
        const reencoded = Buffer.from(segment, "base64url").toString("base64url");
        const expected = /^[A-Za-z0-9_-]+$/.test(segment) && reencoded === segment;
        assert.equal(isCanonicalCompactJws(`${segment}.${segment}.${segment}`), expected, `segment ${JSON.stringify(segment)}`);
        assert.equal(isCanonicalCompactJws(`eyJh.eyJh.${segment}`), expected || segment === "", `signature ${JSON.stringify(segment)}`);
      }
    }
  });

  test("an empty signature passes the encoding check and is refused by the verifier (alg none by name)", async () => {
    const token = await jwks.sign(claims());
    const [h, p] = token.split(".");
    await assertRefused(verifier().verifyUser(`${h}.${p}.`, SERVER_URI), "TOKEN_INVALID", /signature is invalid/);
    await assertRefused(verifier().verifyUser(jwks.unsigned(claims()), SERVER_URI), "TOKEN_INVALID", /unsigned tokens are refused/);
  });

  test("the refusal never quotes the token", async () => {
    const token = await jwks.sign(claims());
    const err = await assertRefused(verifier().verifyUser(`${token} `, SERVER_URI), "TOKEN_INVALID", /canonical/, token);
    assert.ok(err instanceof PdpError);
  });
});
