import { PdpError } from "../errors.js";
import { validateCall, validateNewSession, validateSessionId, validateSubjectRef } from "./input-validation.js";
import { userRef } from "./user-ref.js";
import type {
  AppendCallOptions,
  AppendResult,
  CallFacts,
  EndResult,
  NewSession,
  SessionRecord,
  SessionState,
  SessionStore,
  SubjectRef,
} from "./types.js";

/** Options for {@link MemorySessionStore}. */
export interface MemorySessionStoreOptions {
  /** Clock, ms since the epoch. Default `Date.now`. Tests inject a controllable one. */
  readonly now?: () => number;
  /**
   * How long a session's record is kept after `expiresAt`, so that a late call reads as
   * SESSION_EXPIRED (or revoked) rather than SESSION_UNKNOWN. Default 60 000; 0 drops it at expiry.
   */
  readonly expiredRetentionMs?: number;
  /** How many recent tool names a session's history keeps. Default 50. */
  readonly maxRecentTools?: number;
  /** Most sessions held at once; when full (after dropping expired ones) `create` fails STORE_UNAVAILABLE. Default 100 000. */
  readonly maxSessions?: number;
}

interface Entry {
  readonly session: NewSession;
  state: SessionState;
  endedAt: number | undefined;
  callCount: number;
  riskTotal: number;
  tools: string[];
  labels: Set<string>;
}

function subjectKey(kind: SubjectRef["kind"], value: string): string {
  return `${kind}\n${value}`;
}

function subjectsOf(s: NewSession): string[] {
  const b = s.binding;
  return [subjectKey("agent", b.agentId), subjectKey("user", userRef(b.userIssuer, b.userSubject)), subjectKey("client", b.clientId)];
}

/**
 * In-memory {@link SessionStore} for a single process (the embedded default). Expiry is lazy,
 * by comparing the injectable clock; no timers. Size is bounded by `maxSessions`.
 */
export class MemorySessionStore implements SessionStore {
  readonly #now: () => number;
  readonly #retention: number;
  readonly #maxTools: number;
  readonly #maxSessions: number;
  readonly #sessions = new Map<string, Entry>();
  /** subject key → (session id → expiresAt). Holds only ids of sessions in #sessions. */
  readonly #index = new Map<string, Map<string, number>>();

  constructor(options: MemorySessionStoreOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#retention = options.expiredRetentionMs ?? 60_000;
    this.#maxTools = options.maxRecentTools ?? 50;
    this.#maxSessions = options.maxSessions ?? 100_000;
    if (!(this.#retention >= 0) || !(this.#maxTools >= 1) || !(this.#maxSessions >= 1)) {
      throw new PdpError("CONFIG_INVALID", "invalid MemorySessionStore options");
    }
  }

  /** The clock this store uses. */
  now(): number {
    return this.#now();
  }

  async create(session: NewSession): Promise<void> {
    const now = this.#now();
    validateNewSession(session, now);
    if (this.#live(session.id, now)) throw new PdpError("INVALID_REQUEST", "session id already in use");
    if (this.#sessions.size >= this.#maxSessions) {
      for (const id of [...this.#sessions.keys()]) this.#live(id, now);
      if (this.#sessions.size >= this.#maxSessions) throw new PdpError("STORE_UNAVAILABLE", "session store full");
    }
    const copy: NewSession = {
      id: session.id,
      binding: { ...session.binding },
      grantedTools: [...session.grantedTools],
      grantedResources: [...session.grantedResources],
      grantedPrompts: [...session.grantedPrompts],
      createdAt: session.createdAt,
      expiresAt: session.expiresAt,
      ...(session.toolPins && { toolPins: structuredClone(session.toolPins) }),
      ...(session.novelty && { novelty: structuredClone(session.novelty) }),
    };
    this.#sessions.set(session.id, { session: copy, state: "active", endedAt: undefined, callCount: 0, riskTotal: 0, tools: [], labels: new Set() });
    for (const key of subjectsOf(copy)) {
      let ids = this.#index.get(key);
      if (!ids) this.#index.set(key, (ids = new Map()));
      ids.set(copy.id, copy.expiresAt);
    }
  }

  async get(id: string): Promise<SessionRecord | undefined> {
    validateSessionId(id);
    const e = this.#live(id, this.#now());
    return e && toRecord(e);
  }

  async appendCall(id: string, call: CallFacts, options: AppendCallOptions = {}): Promise<AppendResult> {
    validateSessionId(id);
    validateCall(call, options.maxCalls);
    const now = this.#now();
    const e = this.#live(id, now);
    if (!e) return { ok: false, reason: "unknown" };
    if (e.state !== "active") return { ok: false, reason: e.state };
    if (now >= e.session.expiresAt) return { ok: false, reason: "expired" };
    if (options.maxCalls !== undefined && e.callCount >= options.maxCalls) return { ok: false, reason: "budget_exhausted" };
    e.callCount += 1;
    e.riskTotal += call.risk;
    e.tools.push(call.tool);
    if (e.tools.length > this.#maxTools) e.tools.splice(0, e.tools.length - this.#maxTools);
    for (const label of call.labels) e.labels.add(label);
    return { ok: true, facts: toRecord(e).facts };
  }

  async end(id: string, state: "ended" | "revoked"): Promise<EndResult> {
    validateSessionId(id);
    if (state !== "ended" && state !== "revoked") throw new PdpError("INVALID_REQUEST", "state must be ended or revoked");
    const now = this.#now();
    const e = this.#live(id, now);
    if (!e) return "unknown";
    if (e.state === state || e.state === "revoked") return "unchanged";
    e.state = state;
    e.endedAt = now;
    return "changed";
  }

  async listBy(subject: SubjectRef): Promise<string[]> {
    validateSubjectRef(subject);
    const now = this.#now();
    const ids = this.#index.get(subjectKey(subject.kind, subject.value));
    if (!ids) return [];
    const out: string[] = [];
    for (const [id, expiresAt] of [...ids]) {
      if (this.#live(id, now) && expiresAt > now) out.push(id);
    }
    return out.sort();
  }

  async endBy(subject: SubjectRef, state: "ended" | "revoked"): Promise<number> {
    let n = 0;
    for (const id of await this.listBy(subject)) if ((await this.end(id, state)) === "changed") n++;
    return n;
  }

  async close(): Promise<void> {}

  /** The entry if it is still held at `now`; drops it (and its index entries) past retention. */
  #live(id: string, now: number): Entry | undefined {
    const e = this.#sessions.get(id);
    if (!e) return undefined;
    if (now < e.session.expiresAt + this.#retention) return e;
    this.#sessions.delete(id);
    for (const key of subjectsOf(e.session)) {
      const ids = this.#index.get(key);
      ids?.delete(id);
      if (ids?.size === 0) this.#index.delete(key);
    }
    return undefined;
  }
}

function toRecord(e: Entry): SessionRecord {
  const s = e.session;
  return {
    id: s.id,
    binding: { ...s.binding },
    grantedTools: [...s.grantedTools],
    grantedResources: [...s.grantedResources],
    grantedPrompts: [...s.grantedPrompts],
    createdAt: s.createdAt,
    expiresAt: s.expiresAt,
    ...(s.toolPins && { toolPins: structuredClone(s.toolPins) }),
    ...(s.novelty && { novelty: structuredClone(s.novelty) }),
    facts: { callCount: e.callCount, tools: [...e.tools], labels: [...e.labels].sort(), riskTotal: e.riskTotal },
    state: e.state,
    ...(e.endedAt === undefined ? {} : { endedAt: e.endedAt }),
  };
}
