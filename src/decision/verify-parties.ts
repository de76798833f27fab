import { PdpError } from "../errors.js";
import type { TokenVerifier, VerifyOptions } from "../identity/types.js";
import type { DelegatedQuestion, VerifiedParties } from "./types.js";

/**
 * Verifies both tokens for the protected server, then checks that the declared client (and the
 * declared user subject, where a door declares one) is the token's: a declared field is trusted
 * only when it matches what was verified.
 */
export async function verifyParties(verifier: TokenVerifier, q: DelegatedQuestion, options: VerifyOptions = {}): Promise<VerifiedParties> {
  const [user, agent] = await Promise.all([
    verifier.verifyUser(q.userToken, q.serverId, options),
    verifier.verifyWorkload(q.workloadToken, q.serverId, options),
  ]);
  if (!user.clientId || user.clientId !== q.clientId) throw new PdpError("CLIENT_MISMATCH", "client_id does not match the user token's client");
  if (q.userSubject !== undefined && q.userSubject !== user.subject) throw new PdpError("SUBJECT_MISMATCH", "subject.id is not the user token's subject");
  return { user, agent };
}
