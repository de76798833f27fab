import { PdpError } from "../errors.js";
import type { VerifiedCaller } from "../identity/types.js";
import type { SessionRecord, SessionStore } from "../session/types.js";
import { requireCaller } from "./check-caller.js";
import { checkHandle } from "./load-state.js";
import { done } from "./outcome.js";
import type { RecordSubject } from "./record.js";
import type { RunDecision } from "./run-decision.js";
import type { Caller, Decided, RequestContext } from "./types.js";

/** A session belongs to the server that opened it; operators may read and end any. */
function checkOwner(caller: VerifiedCaller, session: SessionRecord): void {
  if (caller.operator || caller.via === "development") return;
  if (caller.id !== session.binding.serverId) throw new PdpError("CALLER_UNAUTHORIZED", "this session belongs to another server");
}

async function load(sessions: Pick<SessionStore, "get">, id: string): Promise<SessionRecord> {
  const session = await sessions.get(checkHandle(id));
  if (!session) throw new PdpError("SESSION_UNKNOWN", "no such session");
  return session;
}

/** The subject of a stored session: what it is bound to. */
function sessionSubject(s: SessionRecord): RecordSubject {
  const b = s.binding;
  return { sessionId: s.id, user: { issuer: b.userIssuer, subject: b.userSubject }, agentId: b.agentId, clientId: b.clientId, serverId: b.serverId, purpose: b.purpose };
}

/** Reads a session (its owner or an operator). Throws PdpError; not a decision, no record. */
export type GetSession = (sessionId: string, caller: Caller) => Promise<SessionRecord>;

/** Builds GetSession. */
export function createGetSession(deps: { readonly sessions: Pick<SessionStore, "get"> }): GetSession {
  return async (sessionId, caller) => {
    const c = requireCaller(caller);
    const session = await load(deps.sessions, sessionId);
    checkOwner(c, session);
    return session;
  };
}

/** Ends a session at once (its owner or an operator); the value says whether it was still running. */
export type EndSession = (sessionId: string, ctx: RequestContext) => Promise<Decided<boolean>>;

/** Builds EndSession: a decision with its record (task complete → revoked immediately). */
export function createEndSession(deps: { readonly run: RunDecision; readonly sessions: Pick<SessionStore, "get" | "end"> }): EndSession {
  return (sessionId, ctx) => {
    let session: SessionRecord | undefined;
    const subject = (): RecordSubject => ({
      ...(session ? sessionSubject(session) : { sessionId }),
      ...(!(ctx.caller instanceof PdpError) && { caller: ctx.caller.id }),
    });
    return deps.run("end_session", ctx, subject, async () => {
      const caller = requireCaller(ctx.caller);
      session = await load(deps.sessions, sessionId);
      checkOwner(caller, session);
      const ended = (await deps.sessions.end(session.id, "ended")) === "changed";
      return { outcome: done(ended ? "session ended" : "session was already over"), value: ended };
    });
  };
}
