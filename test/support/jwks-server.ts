/**
 * A real JWKS endpoint for tests: an HTTP server on 127.0.0.1:0 serving `{ keys: [...] }` at
 * `/jwks`, counting every fetch, with key rotation, helpers to sign tokens with its keys, and the
 * ways a real IdP fails (hanging, answering 500, refusing connections).
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { SignJWT, UnsecuredJWT, exportJWK, exportSPKI, generateKeyPair } from "jose";
import type { CryptoKey, JWK, JWTHeaderParameters, JWTPayload } from "jose";

/** Options for {@link startJwksServer}. */
export interface JwksServerOptions {
  /** Signing algorithm of the generated keys. Default `ES256`. */
  readonly alg?: "ES256" | "RS256" | "PS256" | "EdDSA";
  /** The `iss` tokens carry by default. Default the server's own origin. */
  readonly issuer?: string;
  /** Keep serving the previous key after a rotation. Default true (a real IdP overlaps keys). */
  readonly keepOldKey?: boolean;
}

/**
 * How `/jwks` answers: `serve` the keys; `hang` (accept the request, never answer); `error500`;
 * `garbage` (200 with a body that is not a JWKS).
 */
export type JwksMode = "serve" | "hang" | "error500" | "garbage";

/** Which key signs: the current one or the one before the last rotation. */
export type KeyChoice = "current" | "old";

/** Options for {@link JwksServer.sign}. */
export interface SignOptions {
  /** Default `current`. */
  readonly key?: KeyChoice;
  /** Header fields to set or override (`alg` defaults to the key's, `kid` to the key's kid). */
  readonly header?: Partial<JWTHeaderParameters>;
}

/** A running JWKS server. */
export interface JwksServer {
  /** The JWKS URI (`http://127.0.0.1:<port>/jwks`). */
  readonly jwksUri: string;
  /** The default `iss` of signed tokens. */
  readonly issuer: string;
  /** The algorithm of the keys. */
  readonly alg: string;
  /** How many requests reached `/jwks` (in any mode). */
  readonly fetches: number;
  /** Changes how `/jwks` answers from now on (requests already hanging stay hanging until close). */
  setMode(mode: JwksMode): void;
  /** Stops listening and drops every connection: fetches now fail with "connection refused". */
  refuseConnections(): Promise<void>;
  /** Listens again on the same port after {@link refuseConnections}. */
  acceptConnections(): Promise<void>;
  /** The current key's `kid`. */
  readonly kid: string;
  /** Generates a new current key; the previous one becomes "old". */
  rotate(): Promise<void>;
  /** Signs `claims` (merged over `{ iss }`) with the chosen key; header fields may be overridden freely. */
  sign(claims: JWTPayload, options?: SignOptions): Promise<string>;
  /** An `alg: none` token over `claims` (merged over `{ iss }`). */
  unsigned(claims: JWTPayload): string;
  /** The current public key as SPKI PEM bytes (what a confused verifier might use as an HMAC secret). */
  publicKeyPem(): Promise<Uint8Array>;
  /** The current public JWK. */
  publicJwk(): Promise<JWK>;
  /** The current private JWK (with `d`, `kid` and `alg`): for a signer under test that publishes its keys here. */
  privateJwk(): Promise<JWK>;
  /** Stops the server. */
  close(): Promise<void>;
}

interface KeyEntry {
  readonly kid: string;
  readonly privateKey: CryptoKey;
  readonly publicJwk: JWK;
  readonly publicKey: CryptoKey;
}

let kidCounter = 0;

async function newKey(alg: string): Promise<KeyEntry> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const kid = `test-key-${++kidCounter}`;
  return { kid, privateKey, publicKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg, use: "sig" } };
}

/** Starts a JWKS server on 127.0.0.1 with one fresh key. */
export async function startJwksServer(options: JwksServerOptions = {}): Promise<JwksServer> {
  const alg = options.alg ?? "ES256";
  const keepOld = options.keepOldKey ?? true;
  let current = await newKey(alg);
  let old: KeyEntry | undefined;
  let fetches = 0;
  let mode: JwksMode = "serve";
  const server = createServer((req, res) => {
    if (req.url !== "/jwks") {
      res.writeHead(404).end();
      return;
    }
    fetches++;
    if (mode === "hang") return;
    if (mode === "error500") return void res.writeHead(500, { "content-type": "text/plain" }).end("internal error");
    if (mode === "garbage") return void res.writeHead(200, { "content-type": "application/json" }).end('{"not":"a jwks"}');
    const keys = [current, ...(keepOld && old ? [old] : [])].map((k) => k.publicJwk);
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ keys }));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  const origin = `http://127.0.0.1:${port}`;
  let listening = true;
  const stopListening = () =>
    new Promise<void>((resolve, reject) => {
      if (!listening) return resolve();
      listening = false;
      server.closeAllConnections();
      server.close((err) => (err ? reject(err) : resolve()));
    });
  const issuer = options.issuer ?? origin;
  const pick = (choice: KeyChoice = "current"): KeyEntry => {
    if (choice === "current") return current;
    if (old === undefined) throw new Error("no old key: rotate() first");
    return old;
  };
  return {
    jwksUri: `${origin}/jwks`,
    issuer,
    alg,
    get fetches() {
      return fetches;
    },
    get kid() {
      return current.kid;
    },
    setMode(next) {
      mode = next;
    },
    refuseConnections: stopListening,
    acceptConnections: () =>
      new Promise<void>((resolve, reject) => {
        if (listening) return resolve();
        server.once("error", reject);
        server.listen(port, "127.0.0.1", () => {
          server.off("error", reject);
          listening = true;
          resolve();
        });
      }),
    async rotate() {
      old = current;
      current = await newKey(alg);
    },
    async sign(claims, signOptions = {}) {
      const key = pick(signOptions.key);
      return new SignJWT({ iss: issuer, ...claims })
        .setProtectedHeader({ alg, kid: key.kid, ...signOptions.header })
        .sign(key.privateKey);
    },
    unsigned: (claims) => new UnsecuredJWT({ iss: issuer, ...claims }).encode(),
    publicKeyPem: async () => new TextEncoder().encode(await exportSPKI(current.publicKey)),
    publicJwk: async () => ({ ...current.publicJwk }),
    privateJwk: async () => ({ ...(await exportJWK(current.privateKey)), kid: current.kid, alg }),
    close: stopListening,
  };
}
