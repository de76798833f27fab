import { PdpError } from "../errors.js";
import { parseSpiffeId } from "../identity/spiffe.js";
import type { TokenVerifier, VerifiedCaller, VerifyOptions } from "../identity/types.js";
import type { AgentAttestation, AssertedClaims, DelegatedQuestion, VerifiedParties } from "./types.js";

/** How the parties of a question are established. */
export interface PartiesOptions extends VerifyOptions {
  /** The authenticated caller. */
  readonly caller: VerifiedCaller;
  /** Callers trusted to assert the user's and the agent's claims instead of sending their tokens. */
  readonly claimAsserters: ReadonlySet<string>;
  /** Clock in ms (asserted claims are "issued" now). */
  readonly now: number;
  /** The enforcement point presents its own stand-in agent ({@link RequestContext.agentStandIn}). */
  readonly agentStandIn?: boolean | undefined;
}

/** No caller may assert claims. */
export const NO_ASSERTERS: ReadonlySet<string> = new Set();

/** The parties as a trusted caller asserts them (nothing to verify but the caller's trust). */
function assertedParties(a: AssertedClaims, q: DelegatedQuestion, options: PartiesOptions): VerifiedParties {
  if (!options.claimAsserters.has(options.caller.id))
    throw new PdpError("CALLER_UNAUTHORIZED", "claims-only request: this caller is not trusted to assert claims; send the user's and the agent's tokens");
  const spiffe = parseSpiffeId(a.agentId);
  if (!spiffe) throw new PdpError("INVALID_REQUEST", "the asserted workload id is not a SPIFFE ID");
  const at = Math.floor(options.now / 1000);
  return {
    user: { issuer: a.user.issuer, subject: a.user.subject, clientId: q.clientId, audience: [q.serverId], scopes: a.user.scopes, issuedAt: at, expiresAt: at },
    agent: { agentId: spiffe.id, trustDomain: spiffe.trustDomain, issuer: a.user.issuer, delegated: false, issuedAt: at, expiresAt: at },
    agentAttestation: options.agentStandIn ? "client" : "spiffe",
    assertedBy: options.caller.id,
  };
}

/**
 * Verifies both tokens for the protected server, then checks that the declared client (and the
 * declared user subject, where a door declares one) is the token's: a declared field is trusted
 * only when it matches what was verified. The agent's attestation comes from the verified token
 * (`act` for an RFC 8693 `act.sub`, else `spiffe`), lowered to `client` when the enforcement point
 * says the workload token is its own stand-in. A question with asserted claims instead of tokens is
 * taken only from a caller trusted to assert them.
 */
export async function verifyParties(verifier: TokenVerifier, q: DelegatedQuestion, options: PartiesOptions): Promise<VerifiedParties> {
  if (q.asserted) return assertedParties(q.asserted, q, options);
  const [user, agent] = await Promise.all([
    verifier.verifyUser(q.userToken, q.serverId, options),
    verifier.verifyWorkload(q.workloadToken, q.serverId, options),
  ]);
  if (!user.clientId || user.clientId !== q.clientId) throw new PdpError("CLIENT_MISMATCH", "client_id does not match the user token's client");
  if (q.userSubject !== undefined && q.userSubject !== user.subject) throw new PdpError("SUBJECT_MISMATCH", "subject.id is not the user token's subject");
  const agentAttestation: AgentAttestation = options.agentStandIn ? "client" : agent.delegated ? "act" : "spiffe";
  return { user, agent, agentAttestation };
}
