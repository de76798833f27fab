import { PdpError } from "../errors.js";
import { isSessionId } from "../session/session-id.js";
import { sessionStatus } from "../session/session-status.js";
import type { DecisionStateReader, RevocationRecord, SessionRecord } from "../session/types.js";
import { changedLayer, revocationSubjects } from "./derive.js";
import type { DecisionRequest } from "./types.js";

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

/**
 * Checks the session a loaded state holds for this request: unknown, expired, ended or revoked
 * sessions are refused; any bound layer that differs is CONTEXT_CHANGED (trust is never carried
 * over to another user, agent, client, server, IdP or purpose).
 */
export function checkSession(session: SessionRecord | undefined, revocation: RevocationRecord | null, request: DecisionRequest, now: number): SessionRecord {
  if (!session) throw new PdpError("SESSION_UNKNOWN", "no such session");
  checkRevocation(revocation, true);
  const status = sessionStatus(session, now);
  if (status === "expired") throw new PdpError("SESSION_EXPIRED", "session expired");
  if (status !== "active") throw new PdpError("SESSION_REVOKED", `session ${status}`);
  const changed = changedLayer(session.binding, request);
  if (changed)
    throw new PdpError("CONTEXT_CHANGED", `the ${changed} differs from the one the session was opened with: open a new session`, {
      details: { changed },
    });
  return session;
}

/**
 * Loads, in one store round trip, the request's session (when it names one) and the revocations
 * of its subjects, and checks both. Without a session handle only revocations are checked — and
 * `required` refuses the request (SESSION_REQUIRED).
 */
export async function loadState(
  reader: DecisionStateReader,
  request: DecisionRequest,
  options: { readonly required: boolean; readonly now: number },
): Promise<SessionRecord | undefined> {
  if (request.sessionId === undefined) {
    if (options.required) throw new PdpError("SESSION_REQUIRED", "a session is required: call OpenSession first");
    const state = await reader.loadForDecision(undefined, revocationSubjects(request));
    checkRevocation(state.revocation, false);
    return undefined;
  }
  const id = checkHandle(request.sessionId);
  const state = await reader.loadForDecision(id, revocationSubjects(request));
  return checkSession(state.session, state.revocation, request, options.now);
}
