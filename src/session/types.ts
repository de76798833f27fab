/**
 * Session and revocation state: the interfaces that the decision pipeline and the gRPC services use.
 * Two implementations each: in-memory (one process) and Redis (any number of replicas).
 * Only the composition root picks one; the same contract suite (test/session/store-contract.ts) runs
 * against both.
 */
import type { DefinitionPin } from "../policy/tool-definitions.js";
import type { SessionNovelty } from "./novelty-types.js";

/** Stored state of a session. `ended`: the task completed (EndSession); `revoked`: an operator or a revocation ended it. */
export type SessionState = "active" | "ended" | "revoked";

/** The verified identities and declared purpose that a session is bound to when it opens. Never changed afterwards. */
export interface SessionBinding {
  /** `iss` of the verified user token. */
  readonly userIssuer: string;
  /** `sub` of the verified user token. */
  readonly userSubject: string;
  /** The agent's workload identity (e.g. a SPIFFE ID), from the verified workload token. */
  readonly agentId: string;
  /** The MCP client id (e.g. the `client_id`/`azp` claim). */
  readonly clientId: string;
  /** The MCP server (the calling PEP) that opened the session. */
  readonly serverId: string;
  /** The identity provider that issued the user token. */
  readonly idp: string;
  /** The declared purpose of the task. */
  readonly purpose: string;
}

/** What the session has done so far: the policy inputs for chain and budget rules. */
export interface SessionFacts {
  /** Calls appended so far (each an ALLOW). */
  readonly callCount: number;
  /** Recent tool names, oldest first, bounded (see the stores' `maxRecentTools`). */
  readonly tools: readonly string[];
  /** Every data label accumulated by the calls so far (a set, sorted). */
  readonly labels: readonly string[];
  /** Sum of the risk scores of the calls so far. */
  readonly riskTotal: number;
}

/** A session as given to {@link SessionStore.create}. */
export interface NewSession {
  /** The PDP-minted handle, from `newSessionId()`. */
  readonly id: string;
  readonly binding: SessionBinding;
  /** Tools granted when the session opened (requested ∩ permitted); explicit names only. */
  readonly grantedTools: readonly string[];
  /** Resources granted when the session opened. */
  readonly grantedResources: readonly string[];
  /** Prompts granted when the session opened. */
  readonly grantedPrompts: readonly string[];
  /** Creation time, ms since the epoch. */
  readonly createdAt: number;
  /** Hard expiry, ms since the epoch. The store holds the record until then (plus its retention). */
  readonly expiresAt: number;
  /**
   * The definition pin of each granted tool whose definition was known when the session opened
   * (reported by its server, or declared in cedar/definitions): a later call of a tool whose
   * current definition differs is DENY TOOL_DEFINITION_CHANGED.
   */
  readonly toolPins?: Readonly<Record<string, DefinitionPin>>;
  /** What the opening found first seen (third-party trust expansion; absent when novelty is off). */
  readonly novelty?: SessionNovelty;
}

/** A stored session. */
export interface SessionRecord extends NewSession {
  /** History facts (policy inputs). */
  readonly facts: SessionFacts;
  /** Stored state; an active session past `expiresAt` is expired (see `sessionStatus`). */
  readonly state: SessionState;
  /** When the session was ended or revoked (ms since the epoch), if it was. */
  readonly endedAt?: number;
}

/** One allowed call, as appended to a session's history. */
export interface CallFacts {
  /** Tool name. */
  readonly tool: string;
  /** Data labels of the tool (e.g. `sensitive`, `egress`). */
  readonly labels: readonly string[];
  /** Risk score of the call (finite, ≥ 0). */
  readonly risk: number;
}

/** Options for {@link SessionStore.appendCall}. */
export interface AppendCallOptions {
  /** Per-session call budget: the append is refused (`budget_exhausted`) when `callCount` has reached it. */
  readonly maxCalls?: number;
}

/** Why an append was refused. */
export type AppendRefusal = "unknown" | "expired" | "ended" | "revoked" | "budget_exhausted";

/** Result of {@link SessionStore.appendCall}: the updated facts, or why nothing was appended. */
export type AppendResult =
  | { readonly ok: true; readonly facts: SessionFacts }
  | { readonly ok: false; readonly reason: AppendRefusal };

/** Result of {@link SessionStore.end}: `changed` (state set now), `unchanged` (it already was), `unknown` (no such session). */
export type EndResult = "changed" | "unchanged" | "unknown";

/** A subject whose sessions can be listed or ended. `user` values are `"<iss>#<sub>"` (see `userRef`). */
export interface SubjectRef {
  readonly kind: "agent" | "user" | "client";
  readonly value: string;
}

/** Session state, shared by every replica. Every method is deadline-bounded and throws PdpError `STORE_UNAVAILABLE` on any store failure. */
export interface SessionStore {
  /** Stores a new session; the store holds it until `expiresAt` (plus retention). INVALID_REQUEST on bad input or an id in use. */
  create(session: NewSession): Promise<void>;
  /** The session, whatever its state, or undefined when unknown or past retention. */
  get(id: string): Promise<SessionRecord | undefined>;
  /** Atomically appends one call (budget-checked) without extending the session's lifetime. */
  appendCall(id: string, call: CallFacts, options?: AppendCallOptions): Promise<AppendResult>;
  /** Marks the session ended or revoked at once; the record stays (as a tombstone) until its original expiry. `revoked` overrides `ended`, never the reverse. */
  end(id: string, state: "ended" | "revoked"): Promise<EndResult>;
  /** Ids of the unexpired sessions bound to a subject. */
  listBy(subject: SubjectRef): Promise<string[]>;
  /** Ends every unexpired session bound to a subject; returns how many changed state. */
  endBy(subject: SubjectRef, state: "ended" | "revoked"): Promise<number>;
  /** Releases what the store owns (never a client it was given). */
  close(): Promise<void>;
}

/** What a revocation refers to. */
export type RevocationKind = "session" | "agent" | "user" | "client" | "jti";

/** A revocation as given to {@link RevocationStore.revoke}. */
export interface RevocationInput {
  readonly kind: RevocationKind;
  /** Session id, agent id, `"<iss>#<sub>"`, client id, or token id. */
  readonly value: string;
  /** Revocation time, ms since the epoch: agent/user/client tokens issued at or before it are refused. */
  readonly at: number;
  /** How long the record must live (the longest lifetime it can matter for, e.g. the maximum token or session lifetime plus skew). */
  readonly ttlMs: number;
}

/** A stored revocation. When one subject is revoked twice, the later `at` wins. */
export interface RevocationRecord {
  readonly kind: RevocationKind;
  readonly value: string;
  readonly at: number;
}

/** The subjects of one decision, checked against the revocations. */
export interface RevocationSubjects {
  /** The session handle, if any. A `session` revocation refuses it whatever the time. */
  readonly sessionId?: string;
  readonly agentId?: string;
  /** `"<iss>#<sub>"` of the verified user token. */
  readonly user?: string;
  readonly clientId?: string;
  /** `jti` values of the presented tokens. */
  readonly tokenIds?: readonly string[];
  /**
   * Issue time (ms) of the presented tokens: pass the EARLIEST `iat` among them (fail closed).
   * Agent/user/client revocations refuse tokens issued at or before the revocation time.
   * Omitted: such revocations always match.
   */
  readonly tokensIssuedAt?: number;
}

/** What a subscriber is told: a revocation, or `resync` (the channel was interrupted; drop every cached state). */
export type RevocationEvent =
  | { readonly type: "revoked"; readonly record: RevocationRecord }
  | { readonly type: "resync" };

/** A revocation subscriber. Must not throw (a throw is caught and ignored). */
export type RevocationListener = (event: RevocationEvent) => void;

/** Revocations: stored with a TTL and published so that every replica drops cached state. Deadline-bounded; STORE_UNAVAILABLE on failure. */
export interface RevocationStore {
  /** Stores (or strengthens) a revocation and publishes it; returns the stored record. */
  revoke(input: RevocationInput): Promise<RevocationRecord>;
  /** The first revocation that refuses these subjects (order: session, agent, user, client, jti), or null. */
  check(subjects: RevocationSubjects): Promise<RevocationRecord | null>;
  /** Calls `listener` for every revocation published from now on (by any replica). Resolves once subscribed; returns the unsubscribe function. */
  subscribe(listener: RevocationListener): Promise<() => Promise<void>>;
  /** Releases what the store owns (subscriber connections), never a client it was given. */
  close(): Promise<void>;
}

/** Everything one decision needs from the stores. */
export interface DecisionState {
  /** The session (any state), or undefined when unknown. */
  readonly session: SessionRecord | undefined;
  /**
   * The first revocation that refuses the subjects, or null. Agent/user/client revocations also
   * refuse a session created at or before them, whatever the tokens' issue time.
   */
  readonly revocation: RevocationRecord | null;
}

/** Loads the session and checks the revocations for one decision in ONE store round trip. */
export interface DecisionStateReader {
  /** `sessionId` undefined: only revocations are checked. */
  loadForDecision(sessionId: string | undefined, subjects: RevocationSubjects): Promise<DecisionState>;
}
