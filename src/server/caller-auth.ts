import type { ServerUnaryCall } from "@grpc/grpc-js";
import { PdpError } from "../errors.js";
import type { TokenVerifier, VerifiedCaller } from "../identity/types.js";

/** What caller authentication reads of a call. */
export type ServerSurfaceCall = Pick<ServerUnaryCall<unknown, unknown>, "metadata" | "getAuthContext">;

/** Finds out who is calling: an mTLS client certificate, a bearer JWT, or (development only) nobody. */
export type CallerAuthenticator = (call: ServerSurfaceCall) => Promise<VerifiedCaller>;

/** Options for {@link createCallerAuthenticator}. */
export interface CallerAuthOptions {
  readonly mode: "development" | "production";
  /** Caller identities with operator rights. */
  readonly operators: readonly string[];
  readonly verifier: TokenVerifier;
}

const DEV_CALLER: VerifiedCaller = { id: "development", via: "development", operator: true };

/** The single URI SAN of a client certificate, e.g. `URI:https://docs.example.com/mcp`. */
function certificateUri(call: ServerSurfaceCall): string | undefined {
  const cert = call.getAuthContext()?.sslPeerCertificate;
  const san = cert?.subjectaltname;
  if (!san) return undefined;
  const uris = san
    .split(/,\s*/)
    .filter((s) => s.startsWith("URI:"))
    .map((s) => s.slice(4));
  if (uris.length !== 1) throw new PdpError("CALLER_UNAUTHORIZED", "client certificate must carry exactly one URI SAN");
  return uris[0];
}

function bearer(call: ServerSurfaceCall): string | undefined {
  const values = call.metadata.get("authorization");
  if (values.length === 0) return undefined;
  if (values.length > 1) throw new PdpError("CALLER_UNAUTHORIZED", "more than one authorization header");
  const m = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/.exec(String(values[0]));
  if (!m) throw new PdpError("CALLER_UNAUTHORIZED", "authorization metadata must be a Bearer token");
  return m[1];
}

/**
 * Builds the caller authenticator. A bearer token is verified against the caller issuers; an mTLS
 * certificate names the caller by its URI SAN. Without either, only development mode (loopback)
 * lets the call through, as the `development` caller.
 */
export function createCallerAuthenticator(options: CallerAuthOptions): CallerAuthenticator {
  const operators = new Set(options.operators);
  return async (call) => {
    const uri = certificateUri(call);
    if (uri) return { id: uri, via: "mtls", operator: operators.has(uri) };
    const token = bearer(call);
    if (token) return options.verifier.verifyCaller(token);
    if (options.mode === "development") return DEV_CALLER;
    throw new PdpError("CALLER_UNAUTHORIZED", "caller credentials required (mTLS client certificate or Bearer token)");
  };
}
