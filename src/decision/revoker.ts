import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { IdentityConfig } from "../identity/config.js";
import type { SessionConfig } from "../session/config.js";
import { PdpError } from "../errors.js";
import { ReasonCode } from "../gen/mcppdp/v1/common_pb.js";
import { RevokeResponseSchema, type RevokeRequest, type RevokeResponse } from "../gen/mcppdp/v1/admin_pb.js";
import type { Decoded } from "../grpc/service-definition.js";
import type { StateStores } from "../session/state-stores.js";
import type { RevocationKind, SubjectRef } from "../session/types.js";
import { userRef } from "../session/user-ref.js";
import { requireField } from "./authorize-request.js";
import type { Authenticate } from "./authorizer.js";
import type { Decide } from "./recorder.js";
import { checkHandle } from "./session-checks.js";
import { requireOperator } from "./verify-identities.js";

/** What {@link createRevoker} needs. */
export interface RevokerDeps {
  readonly stores: StateStores;
  readonly decide: Decide;
  /** Sets how long revocation records live (the longest lifetime they can matter for). */
  readonly config: { readonly identity: IdentityConfig; readonly sessions: SessionConfig };
  readonly now?: () => number;
}

/** AdminService.Revoke. */
export type Revoke = (request: Decoded<RevokeRequest>, authenticate: Authenticate) => Promise<RevokeResponse>;

/**
 * Builds Revoke: operator only. Revoking an agent, user or client ends its sessions and refuses its
 * tokens issued at or before now; a token id refuses that token; a session ends at once. The
 * revocation is published, so every replica drops cached state. Records expire by themselves after
 * the longest token or session lifetime (plus clock skew): past that nothing they refuse can still
 * be valid.
 */
export function createRevoker(deps: RevokerDeps): Revoke {
  const now = deps.now ?? Date.now;
  const { identity, sessions } = deps.config;
  const ttlMs = (Math.max(identity.maxTokenLifetimeSeconds, sessions.maxTtlSeconds) + identity.clockSkewSeconds) * 1000;

  return async (request, authenticate) => {
    const r = await deps.decide<{ at: number; ended: number }>("revoke", async (draft) => {
      if (!request.ok) throw new PdpError("INVALID_REQUEST", "request message does not decode");
      const caller = await authenticate();
      draft.caller = caller.id;
      requireOperator(caller);
      const t = request.message.target;
      const at = now();
      let kind: RevocationKind;
      let value: string;
      let subject: SubjectRef | undefined;
      switch (t.case) {
        case "sessionId":
          kind = "session";
          value = checkHandle(t.value);
          draft.sessionId = value;
          break;
        case "agentId":
          kind = "agent";
          value = requireField(t.value, "agent_id", 1024);
          draft.agentId = value;
          subject = { kind, value };
          break;
        case "user":
          kind = "user";
          value = userRef(requireField(t.value.issuer, "user.issuer", 1024), requireField(t.value.subject, "user.subject", 1024));
          Object.assign(draft, { userIssuer: t.value.issuer, userSubject: t.value.subject });
          subject = { kind, value };
          break;
        case "clientId":
          kind = "client";
          value = requireField(t.value, "client_id", 1024);
          draft.clientId = value;
          subject = { kind, value };
          break;
        case "tokenId":
          kind = "jti";
          value = requireField(t.value, "token_id", 1024);
          break;
        default:
          throw new PdpError("INVALID_REQUEST", "name what to revoke: session_id, agent_id, user, client_id or token_id");
      }
      await deps.stores.revocations.revoke({ kind, value, at, ttlMs });
      let ended = 0;
      if (kind === "session") ended = (await deps.stores.sessions.end(value, "revoked")) === "changed" ? 1 : 0;
      if (subject) ended = await deps.stores.sessions.endBy(subject, "revoked");
      return { outcome: { allow: true, reasonCode: ReasonCode.ALLOWED, reasons: [], message: `${kind} revoked; ${ended} sessions ended` }, extra: { at, ended } };
    });
    if (r.error) throw r.error;
    return create(RevokeResponseSchema, { revokedAt: timestampFromMs(r.extra!.at), sessionsEnded: BigInt(r.extra!.ended) });
  };
}
