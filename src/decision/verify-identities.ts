import { PdpError } from "../errors.js";
import type { TokenVerifier, VerifiedCaller, VerifiedUser, VerifiedWorkload, VerifyOptions } from "../identity/types.js";

/** The verified parties of one request. */
export interface VerifiedParties {
  readonly user: VerifiedUser;
  readonly workload: VerifiedWorkload;
}

/** The request's server must be the caller's own identity (a PEP cannot ask on another server's behalf). */
export function checkCaller(caller: VerifiedCaller, serverId: string): void {
  if (caller.via === "development") return;
  if (caller.id !== serverId)
    throw new PdpError("CALLER_UNAUTHORIZED", "server_id is not the calling enforcement point's own identity");
}

/** Refuses a caller that is not an operator (admin, audit and approval RPCs). */
export function requireOperator(caller: VerifiedCaller): void {
  if (!caller.operator) throw new PdpError("CALLER_UNAUTHORIZED", "this RPC needs an operator identity");
}

/**
 * Verifies both tokens for the protected server, then checks that the declared client is the
 * token's client: a declared field is trusted only when it matches what was verified.
 */
export async function verifyIdentities(
  verifier: TokenVerifier,
  req: { userToken: string; workloadToken: string; serverId: string; clientId: string },
  options: VerifyOptions = {},
): Promise<VerifiedParties> {
  const [user, workload] = await Promise.all([
    verifier.verifyUser(req.userToken, req.serverId, options),
    verifier.verifyWorkload(req.workloadToken, req.serverId, options),
  ]);
  if (!user.clientId || user.clientId !== req.clientId)
    throw new PdpError("CLIENT_MISMATCH", "client_id does not match the user token's client");
  return { user, workload };
}
