import { PdpError } from "../errors.js";
import { isSessionId } from "../session/session-id.js";
import { sessionStatus } from "../session/session-status.js";
import type { DecisionState, RevocationRecord, RevocationSubjects, SessionRecord } from "../session/types.js";
import { userRef } from "../session/user-ref.js";
import type { VerifiedParties } from "./verify-identities.js";

/** The revocation subjects of a request: its session, verified identities and token ids. */
export function revocationSubjects(parties: VerifiedParties, clientId: string, sessionId?: string): RevocationSubjects {
  const tokenIds = [parties.user.tokenId, parties.workload.tokenId].filter((t): t is string => Boolean(t));
  return {
    ...(sessionId !== undefined && { sessionId }),
    agentId: parties.workload.agentId,
    user: userRef(parties.user.issuer, parties.user.subject),
    clientId,
    tokenIds,
    tokensIssuedAt: Math.min(parties.user.issuedAt, parties.workload.issuedAt) * 1000,
  };
}

/** A handle the PDP could have minted, or SESSION_UNKNOWN (never a lookup of arbitrary strings). */
export function checkHandle(sessionId: string): string {
  if (!isSessionId(sessionId)) throw new PdpError("SESSION_UNKNOWN", "no such session");
  return sessionId;
}

/** Refuses a request whose credentials, session or subjects were revoked. */
export function checkRevocation(revocation: RevocationRecord | null, inSession: boolean): void {
  if (!revocation) return;
  if (revocation.kind === "jti") throw new PdpError("TOKEN_INVALID", "token revoked");
  if (inSession) throw new PdpError("SESSION_REVOKED", `session revoked (${revocation.kind} revoked)`);
  throw new PdpError("TOKEN_INVALID", `credentials revoked (${revocation.kind} revoked)`);
}

/** The declared and verified facts of a request that must match its session's binding. */
export interface RequestContext {
  readonly parties: VerifiedParties;
  readonly clientId: string;
  readonly serverId: string;
  readonly purpose: string;
}

/**
 * Loads nothing: checks the state loaded for this decision. Unknown, expired, ended or revoked
 * sessions are refused; any bound layer that differs is CONTEXT_CHANGED (trust is never carried
 * over to another user, agent, client, server, IdP or purpose).
 */
export function checkSession(state: DecisionState, ctx: RequestContext, now: number): SessionRecord {
  const session = state.session;
  if (!session) throw new PdpError("SESSION_UNKNOWN", "no such session");
  checkRevocation(state.revocation, true);
  const status = sessionStatus(session, now);
  if (status === "expired") throw new PdpError("SESSION_EXPIRED", "session expired");
  if (status !== "active") throw new PdpError("SESSION_REVOKED", `session ${status}`);
  const b = session.binding;
  const { user, workload } = ctx.parties;
  const checks: [string, boolean][] = [
    ["idp", b.idp !== user.issuer],
    ["user", b.userIssuer !== user.issuer || b.userSubject !== user.subject],
    ["agent", b.agentId !== workload.agentId],
    ["client", b.clientId !== ctx.clientId],
    ["server", b.serverId !== ctx.serverId],
    ["purpose", b.purpose !== ctx.purpose],
  ];
  const changed = checks.find(([, differs]) => differs)?.[0];
  if (changed)
    throw new PdpError("CONTEXT_CHANGED", `the ${changed} differs from the one the session was opened with: open a new session`, {
      details: { changed },
    });
  return session;
}

/** Refuses an item the session was not granted when it opened (explicit names only). */
export function checkGrant(session: SessionRecord, kind: "tool" | "resource" | "prompt", name: string): void {
  const granted = kind === "tool" ? session.grantedTools : kind === "resource" ? session.grantedResources : session.grantedPrompts;
  if (!granted.includes(name)) throw new PdpError("TOOL_NOT_GRANTED", `${kind} "${name}" was not granted when the session opened`);
}

/** The refusal of a history append, as an error. */
export function appendRefusal(reason: "unknown" | "expired" | "ended" | "revoked" | "budget_exhausted"): PdpError {
  switch (reason) {
    case "unknown":
      return new PdpError("SESSION_UNKNOWN", "no such session");
    case "expired":
      return new PdpError("SESSION_EXPIRED", "session expired");
    case "budget_exhausted":
      return new PdpError("TOOL_NOT_GRANTED", "the session's call budget is exhausted");
    default:
      return new PdpError("SESSION_REVOKED", `session ${reason}`);
  }
}
