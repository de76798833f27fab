import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import { base64url, createLocalJWKSet } from "jose";
import type { JSONWebKeySet, JWTVerifyGetKey } from "jose";
import { DEFAULT_ALGORITHMS, type IssuerConfig } from "./config.js";
import { PdpError } from "../errors.js";
import type { JwksEndpoints } from "./jwks-endpoints.js";


const SYMMETRIC = new Set(["HS256", "HS384", "HS512"]);

/** How one trusted issuer's signatures are checked. */
export interface IssuerKeys {
  /** The algorithms this issuer may use: never `none`; only HS* with a shared secret, never HS* without. */
  readonly algorithms: readonly string[];
  /** Resolves the verification key for a token's header. */
  readonly getKey: JWTVerifyGetKey;
  /** The JWKS URI when the keys are fetched (only then can the issuer be unavailable). */
  readonly jwksUri?: URL;
}

/**
 * Builds the key resolver and the algorithm allowlist of one issuer. A remote JWKS comes from
 * `endpoints`, which holds one key set and one circuit breaker per URI. Throws PdpError
 * CONFIG_INVALID when the issuer has no key source or several, a JWKS URI that is neither https nor
 * loopback http, an unreadable JWKS file, or no usable algorithm.
 */
export function createIssuerKeys(issuer: IssuerConfig, endpoints: JwksEndpoints): IssuerKeys {
  const sources = [issuer.jwksUri, issuer.jwksFile, issuer.jwks, issuer.sharedSecret].filter((s) => s !== undefined);
  if (sources.length !== 1) {
    throw configError(issuer, "needs exactly one of jwksUri, jwksFile, jwks, sharedSecret");
  }
  const algorithms = allowedAlgorithms(issuer);
  if (issuer.jwksUri !== undefined) {
    const url = parseJwksUri(issuer, issuer.jwksUri);
    return { algorithms, getKey: endpoints.keySet(url), jwksUri: url };
  }
  return { algorithms, getKey: localKeySource(issuer) };
}

/**
 * The algorithms an issuer may use: its configured list (or the default) without `none`; with a
 * shared secret only HS256/384/512, without one no HS algorithm at all.
 */
export function allowedAlgorithms(issuer: IssuerConfig): readonly string[] {
  const configured = issuer.algorithms.length > 0 ? issuer.algorithms : DEFAULT_ALGORITHMS;
  const symmetric = issuer.sharedSecret !== undefined;
  const allowed = configured.filter((alg) => alg.toLowerCase() !== "none" && SYMMETRIC.has(alg) === symmetric);
  if (allowed.length === 0) throw configError(issuer, "has no usable algorithm");
  return allowed;
}

function localKeySource(issuer: IssuerConfig): JWTVerifyGetKey {
  if (issuer.sharedSecret !== undefined) {
    const secret = base64url.decode(issuer.sharedSecret);
    if (secret.length < 32) throw configError(issuer, "sharedSecret must be at least 32 bytes");
    return async () => secret;
  }
  if (issuer.jwksFile !== undefined) return localKeys(issuer, readJwksFile(issuer, issuer.jwksFile));
  return localKeys(issuer, issuer.jwks);
}

function localKeys(issuer: IssuerConfig, jwks: JSONWebKeySet | undefined): JWTVerifyGetKey {
  if (jwks === undefined || !Array.isArray(jwks.keys)) throw configError(issuer, "JWKS has no keys array");
  if (jwks.keys.some((k) => k.d !== undefined || k.k !== undefined)) {
    throw configError(issuer, "JWKS must hold public keys only");
  }
  return createLocalJWKSet(jwks);
}

function readJwksFile(issuer: IssuerConfig, file: string): JSONWebKeySet {
  try {
    return JSON.parse(readFileSync(file, "utf8")) as JSONWebKeySet;
  } catch (err) {
    throw configError(issuer, `cannot read jwksFile ${file}`, err);
  }
}

/** Accepts `https:` anywhere and `http:` only on a loopback host; throws PdpError CONFIG_INVALID otherwise. */
export function parseJwksUri(issuer: IssuerConfig, uri: string): URL {
  let url: URL;
  try {
    url = new URL(uri);
  } catch (err) {
    throw configError(issuer, "jwksUri is not a URL", err);
  }
  if (url.protocol === "https:") return url;
  if (url.protocol === "http:" && isLoopback(url.hostname)) return url;
  throw configError(issuer, "jwksUri must be https (or http on a loopback host)");
}

function isLoopback(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, "");
  if (host === "localhost") return true;
  if (isIP(host) === 4) return host.startsWith("127.");
  return host === "::1";
}

function configError(issuer: IssuerConfig, problem: string, cause?: unknown): PdpError {
  return new PdpError("CONFIG_INVALID", `issuer ${issuer.issuer}: ${problem}`, { cause });
}
