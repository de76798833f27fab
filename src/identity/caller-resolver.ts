/**
 * Who is calling the PDP, from the credentials a door found on the request (an mTLS client
 * certificate's URI SAN, a bearer token): the same rules for every door (gRPC, HTTP).
 */
import { PdpError } from "../errors.js";
import type { TokenVerifier, VerifiedCaller } from "./types.js";

/** What a door found on a request. */
export interface CallerCredentials {
  /** The URI SANs of the verified client certificate (mTLS); absent when it has no subjectAltName (or there is none). */
  readonly certificateUris?: readonly string[] | undefined;
  /** The values of the `authorization` header / metadata, as received. */
  readonly authorization: readonly string[];
}

/** Resolves credentials to a verified caller; throws PdpError CALLER_UNAUTHORIZED (or the token's failure). */
export type CallerResolver = (credentials: CallerCredentials) => Promise<VerifiedCaller>;

/** Options for {@link createCallerResolver}. */
export interface CallerResolverOptions {
  readonly mode: "development" | "production";
  /** Caller identities with operator rights. */
  readonly operators: readonly string[];
  readonly verifier: Pick<TokenVerifier, "verifyCaller">;
}

const DEV_CALLER: VerifiedCaller = { id: "development", via: "development", operator: true };

/** Splits an OpenSSL-style `subjectaltname` (`URI:https://a, DNS:b`) into its URI SANs; undefined without one. */
export function uriSans(subjectAltName: string | undefined): string[] | undefined {
  if (!subjectAltName) return undefined;
  return subjectAltName
    .split(/,\s*/)
    .filter((s) => s.startsWith("URI:"))
    .map((s) => s.slice(4));
}

function bearer(values: readonly string[]): string | undefined {
  if (values.length === 0) return undefined;
  if (values.length > 1) throw new PdpError("CALLER_UNAUTHORIZED", "more than one authorization header");
  const m = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/.exec(values[0]!);
  if (!m) throw new PdpError("CALLER_UNAUTHORIZED", "authorization must be a Bearer token");
  return m[1];
}

/**
 * Builds the resolver. A client certificate names the caller by its single URI SAN; a bearer token
 * is verified against the caller issuers; without either, only development mode (loopback) lets
 * the call through, as the `development` caller.
 */
export function createCallerResolver(options: CallerResolverOptions): CallerResolver {
  const operators = new Set(options.operators);
  return async ({ certificateUris, authorization }) => {
    if (certificateUris) {
      if (certificateUris.length !== 1) throw new PdpError("CALLER_UNAUTHORIZED", "client certificate must carry exactly one URI SAN");
      const uri = certificateUris[0]!;
      return { id: uri, via: "mtls", operator: operators.has(uri) };
    }
    const token = bearer(authorization);
    if (token) return options.verifier.verifyCaller(token);
    if (options.mode === "development") return DEV_CALLER;
    throw new PdpError("CALLER_UNAUTHORIZED", "caller credentials required (mTLS client certificate or Bearer token)");
  };
}
