import { PdpError } from "../errors.js";
import type { RevocationKind, RevocationStore, SessionStore, SubjectRef } from "../session/types.js";
import { userRef } from "../session/user-ref.js";
import { requireOperator } from "./check-caller.js";
import { requireField } from "./check-question.js";
import { checkHandle } from "./load-state.js";
import { done } from "./outcome.js";
import type { RecordSubject } from "./record.js";
import type { RunDecision } from "./run-decision.js";
import type { Decided, RequestContext } from "./types.js";

/** What to revoke. */
export type RevokeTarget =
  | { readonly kind: "session"; readonly sessionId: string }
  | { readonly kind: "agent"; readonly agentId: string }
  | { readonly kind: "user"; readonly issuer: string; readonly subject: string }
  | { readonly kind: "client"; readonly clientId: string }
  | { readonly kind: "jti"; readonly tokenId: string }
  | { readonly kind: "none" };

/** What a revocation did. */
export interface Revoked {
  readonly at: number;
  readonly sessionsEnded: number;
}

/** AdminService.Revoke as a decision (operator only). */
export type Revoke = (target: RevokeTarget, ctx: RequestContext) => Promise<Decided<Revoked>>;

/** What {@link createRevoke} needs. */
export interface RevokeDeps {
  readonly run: RunDecision;
  readonly sessions: Pick<SessionStore, "end" | "endBy">;
  readonly revocations: Pick<RevocationStore, "revoke">;
  /** How long revocation records live: the longest token or session lifetime plus clock skew. */
  readonly recordTtlMs: number;
  readonly now?: () => number;
}

const MAX = 1024;

/** The stored revocation of a target, checked. */
function revocationOf(target: RevokeTarget): { kind: RevocationKind; value: string; subject?: SubjectRef } {
  switch (target.kind) {
    case "session":
      return { kind: "session", value: checkHandle(target.sessionId) };
    case "agent": {
      const value = requireField(target.agentId, "agent_id", MAX);
      return { kind: "agent", value, subject: { kind: "agent", value } };
    }
    case "user": {
      const value = userRef(requireField(target.issuer, "user.issuer", MAX), requireField(target.subject, "user.subject", MAX));
      return { kind: "user", value, subject: { kind: "user", value } };
    }
    case "client": {
      const value = requireField(target.clientId, "client_id", MAX);
      return { kind: "client", value, subject: { kind: "client", value } };
    }
    case "jti":
      return { kind: "jti", value: requireField(target.tokenId, "token_id", MAX) };
    default:
      throw new PdpError("INVALID_REQUEST", "name what to revoke: session_id, agent_id, user, client_id or token_id");
  }
}

/** The subject a revocation's record names. */
function targetSubject(target: RevokeTarget): RecordSubject {
  switch (target.kind) {
    case "session":
      return { sessionId: target.sessionId };
    case "agent":
      return { agentId: target.agentId };
    case "user":
      return { user: { issuer: target.issuer, subject: target.subject } };
    case "client":
      return { clientId: target.clientId };
    default:
      return {};
  }
}

/**
 * Builds Revoke: revoking an agent, user or client ends its sessions and refuses its tokens
 * issued at or before now; a token id refuses that token; a session ends at once. The revocation
 * is published, so every replica drops cached state. Records expire by themselves after the
 * longest token or session lifetime (plus clock skew): past that nothing they refuse can still be
 * valid.
 */
export function createRevoke(deps: RevokeDeps): Revoke {
  const now = deps.now ?? Date.now;
  return (target, ctx) => {
    const subject = (): RecordSubject => ({
      ...targetSubject(target),
      ...(!(ctx.caller instanceof PdpError) && { caller: ctx.caller.id }),
    });
    return deps.run("revoke", ctx, subject, async () => {
      requireOperator(ctx.caller);
      const { kind, value, subject: ref } = revocationOf(target);
      const at = now();
      await deps.revocations.revoke({ kind, value, at, ttlMs: deps.recordTtlMs });
      let ended = 0;
      if (kind === "session") ended = (await deps.sessions.end(value, "revoked")) === "changed" ? 1 : 0;
      if (ref) ended = await deps.sessions.endBy(ref, "revoked");
      return { outcome: done(`${kind} revoked; ${ended} sessions ended`), value: { at, sessionsEnded: ended } };
    });
  };
}
