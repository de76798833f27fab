import { createHash } from "node:crypto";
import { timestampMs } from "@bufbuild/protobuf/wkt";
import { decodeJwt } from "jose";
import { Decision } from "../gen/mcppdp/v1/common_pb.js";
import type { PdpClient } from "./pdp-client.js";
import { pepReasons, reasonCodeName, refusal, type PepDecision, type PepReason, type PepReasonCode } from "./pep-decision.js";
import { PepError } from "./pep-error.js";
import type { CallerIdentity } from "./request-identity.js";
import type { TraceContext } from "./trace-context.js";

/** What a task session is opened for: the items the PEP asks the PDP to grant. */
export interface TaskGrants {
  readonly tools?: readonly string[];
  readonly resources?: readonly string[];
  readonly prompts?: readonly string[];
}

/** Options for {@link createTaskSessions}. */
export interface TaskSessionsOptions {
  readonly pdp: PdpClient;
  readonly serverId: string;
  readonly grants: TaskGrants;
  /** Requested session lifetime in seconds (the PDP caps it). Default: the PDP's default. */
  readonly ttlSeconds?: number;
  /** Most contexts kept at once; the oldest is forgotten first. Default 10000. */
  readonly maxEntries?: number;
  /** Clock (ms), for tests. */
  readonly now?: () => number;
}

/** A session handle to decide in, or the refusal that stands in for one. */
export type SessionLease =
  | { readonly ok: true; readonly handle: string; readonly source: "presented" | "kept" | "opened" }
  | { readonly ok: false; readonly decision: PepDecision };

/** What to do after a decision made in a kept session. */
export type SessionVerdict = "keep" | "reopen";

/**
 * Keeps one PDP task session per authenticated context.
 *
 * The MCP 2026-07-28 revision has no transport session, so the PEP maps MCP requests to PDP task
 * sessions itself:
 * - a request that presents `X-Task-Session` uses that handle as is (the PDP checks that it is
 *   bound to the presented identities; a handle alone is useless);
 * - otherwise the PEP keeps one handle per context — (user `iss`+`sub`+scopes, agent
 *   `sub`/`act.sub`, client id, purpose, `X-Task-Id`, server) — opening the session on first use with the
 *   configured grants. The key is built from *unverified* claims: it only picks a handle, and the
 *   PDP verifies the tokens and the binding on every call, so a forged key gets a DENY, never
 *   another user's trust.
 * - a kept session the PDP reports EXPIRED or UNKNOWN (e.g. a PDP restart with a memory store) is
 *   replaced once by a fresh one — a new, recorded OpenSession decision. A REVOKED one is kept as
 *   revoked until it would have expired: revocation ends the task; a new task needs a new
 *   `X-Task-Id` (and passes a fresh OpenSession decision).
 */
export interface TaskSessions {
  /**
   * The handle to decide in for this identity, opening a session if needed (an OpenSession sent
   * with `trace`, the W3C trace context of the request that needed it). Never throws.
   */
  acquire(identity: CallerIdentity, trace?: TraceContext): Promise<SessionLease>;
  /** Reports a decision's reason code for a kept session; `reopen` means it was dropped. */
  settle(identity: CallerIdentity, handle: string, reasonCode: PepReasonCode): SessionVerdict;
  /** The kept handle for this identity's context, if any (presented handles are not kept). */
  kept(identity: CallerIdentity): string | undefined;
  /** Forgets this context's kept session (after EndSession). */
  forget(identity: CallerIdentity): void;
  /** Why `item` was not granted when this identity's kept session opened, if it was refused then. */
  refusedGrant(identity: CallerIdentity, item: string): RefusedGrant | undefined;
}

interface Entry {
  readonly handle: string;
  readonly expiresAtMs: number;
  revoked: boolean;
  /** Items the PDP refused to grant when the session opened, with its reasons. */
  readonly refused: ReadonlyMap<string, RefusedGrant>;
}

/** An item the PDP did not grant when a kept session opened. */
export interface RefusedGrant {
  readonly reasonCode: PepReasonCode;
  readonly reasons: readonly PepReason[];
}

function claimsOf(token: string): Record<string, unknown> {
  try {
    return decodeJwt(token) as Record<string, unknown>;
  } catch {
    // Not a JWT: key by its digest; the PDP will refuse it anyway.
    return { digest: createHash("sha256").update(token).digest("base64url") };
  }
}

/** Most identity → key computations remembered (cleared when full). */
const MAX_REMEMBERED_KEYS = 1000;

/** Creates the per-context task-session map. */
export function createTaskSessions(options: TaskSessionsOptions): TaskSessions {
  const now = options.now ?? Date.now;
  const maxEntries = options.maxEntries ?? 10_000;
  const entries = new Map<string, Entry>();
  const opening = new Map<string, Promise<SessionLease>>();

  /** The last keys computed, by the identity's fields (a caller presents the same tokens call after call). */
  const keys = new Map<string, string>();
  const keyOf = (id: CallerIdentity): string => {
    const fields = `${id.userToken}\n${id.workloadToken}\n${id.clientId}\n${id.purpose}\n${id.taskId ?? ""}\n${id.agentStandIn === true}`;
    const known = keys.get(fields);
    if (known !== undefined) return known;
    const user = claimsOf(id.userToken);
    const agent = claimsOf(id.workloadToken);
    const act = agent.act as { sub?: unknown } | undefined;
    // The token's scopes are part of the context: after a step-up (a token with more scope) the
    // PEP opens a new session, whose grant the PDP evaluates with the new scopes.
    const material = [user.iss, user.sub, user.scope, user.scp, user.digest, agent.sub, act?.sub, agent.digest, id.clientId, id.purpose, id.taskId ?? "", options.serverId, id.agentStandIn === true];
    const key = createHash("sha256").update(JSON.stringify(material)).digest("base64url");
    if (keys.size >= MAX_REMEMBERED_KEYS) keys.clear();
    keys.set(fields, key);
    return key;
  };

  const remember = (key: string, entry: Entry): void => {
    entries.delete(key);
    entries.set(key, entry);
    while (entries.size > maxEntries) entries.delete(entries.keys().next().value!);
  };

  const open = async (key: string, id: CallerIdentity, trace: TraceContext | undefined): Promise<SessionLease> => {
    try {
      const res = await options.pdp.openSession({
        userToken: id.userToken,
        workloadToken: id.workloadToken,
        clientId: id.clientId,
        serverId: options.serverId,
        purpose: id.purpose,
        ...(id.agentStandIn && { agentStandIn: true }),
        ...options.grants,
        ...(options.ttlSeconds !== undefined && { ttlSeconds: options.ttlSeconds }),
        ...(trace && { trace }),
      });
      if (res.decision !== Decision.ALLOW || !res.sessionId) {
        return {
          ok: false,
          decision: refusal(reasonCodeName(res.reasonCode), `the PDP refused to open a task session: ${res.message}`, {
            reasons: pepReasons(res.reasons),
            decisionId: res.decisionId,
            policyVersion: res.policyVersion,
          }),
        };
      }
      const expiresAtMs = res.expiresAt ? timestampMs(res.expiresAt) : now() + 60_000;
      const refused = new Map(res.refused.map((r) => [r.item, { reasonCode: reasonCodeName(r.reasonCode), reasons: pepReasons(r.reasons) }]));
      remember(key, { handle: res.sessionId, expiresAtMs, revoked: false, refused });
      return { ok: true, handle: res.sessionId, source: "opened" };
    } catch (err) {
      return { ok: false, decision: refusal("PDP_UNAVAILABLE", PepError.from(err, "OpenSession").message) };
    }
  };

  return {
    async acquire(id, trace) {
      if (id.taskSession) return { ok: true, handle: id.taskSession, source: "presented" };
      const key = keyOf(id);
      const entry = entries.get(key);
      if (entry && now() < entry.expiresAtMs) {
        if (entry.revoked) {
          return {
            ok: false,
            decision: refusal("SESSION_REVOKED", "this task's session was revoked; start a new task (another X-Task-Id) to ask again", {
              taskSession: entry.handle,
            }),
          };
        }
        return { ok: true, handle: entry.handle, source: "kept" };
      }
      if (entry) entries.delete(key);
      let pending = opening.get(key);
      if (!pending) {
        pending = open(key, id, trace).finally(() => opening.delete(key));
        opening.set(key, pending);
      }
      return pending;
    },
    settle(id, handle, reasonCode) {
      if (id.taskSession) return "keep";
      const key = keyOf(id);
      const entry = entries.get(key);
      if (!entry || entry.handle !== handle) return "keep";
      if (reasonCode === "SESSION_REVOKED") entry.revoked = true;
      if (reasonCode === "SESSION_EXPIRED" || reasonCode === "SESSION_UNKNOWN") {
        entries.delete(key);
        return "reopen";
      }
      return "keep";
    },
    kept(id) {
      const entry = entries.get(keyOf(id));
      return entry && !entry.revoked && now() < entry.expiresAtMs ? entry.handle : undefined;
    },
    forget(id) {
      entries.delete(keyOf(id));
    },
    refusedGrant(id, item) {
      return id.taskSession ? undefined : entries.get(keyOf(id))?.refused.get(item);
    },
  };
}
