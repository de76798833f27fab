import type { ServerUnaryCall } from "@grpc/grpc-js";
import { createCallerResolver, uriSans, type CallerResolverOptions } from "../identity/caller-resolver.js";
import type { VerifiedCaller } from "../identity/types.js";

/** What caller authentication reads of a call. */
export type ServerSurfaceCall = Pick<ServerUnaryCall<unknown, unknown>, "metadata" | "getAuthContext">;

/** Finds out who is calling: an mTLS client certificate, a bearer JWT, or (development only) nobody. */
export type CallerAuthenticator = (call: ServerSurfaceCall) => Promise<VerifiedCaller>;

/** Options for {@link createCallerAuthenticator}. */
export type CallerAuthOptions = CallerResolverOptions;

/**
 * Builds the gRPC caller authenticator: the certificate's URI SAN and the `authorization`
 * metadata, resolved by the rules every door shares (`identity/caller-resolver.ts`).
 */
export function createCallerAuthenticator(options: CallerAuthOptions): CallerAuthenticator {
  const resolve = createCallerResolver(options);
  return (call) =>
    resolve({
      certificateUris: uriSans(call.getAuthContext()?.sslPeerCertificate?.subjectaltname),
      authorization: call.metadata.get("authorization").map(String),
    });
}
