import { validateSessionId, validateSubjects } from "./input-validation.js";
import { matchRevocation, revocationTargets } from "./match-revocation.js";
import type { MemoryRevocationStore } from "./memory-revocation-store.js";
import type { MemorySessionStore } from "./memory-session-store.js";
import type { DecisionState, DecisionStateReader, RevocationSubjects } from "./types.js";

/** {@link DecisionStateReader} over the in-memory stores: same semantics as the Redis one, no I/O. */
export class MemoryDecisionStateReader implements DecisionStateReader {
  readonly #sessions: MemorySessionStore;
  readonly #revocations: MemoryRevocationStore;

  constructor(sessions: MemorySessionStore, revocations: MemoryRevocationStore) {
    this.#sessions = sessions;
    this.#revocations = revocations;
  }

  async loadForDecision(sessionId: string | undefined, subjects: RevocationSubjects): Promise<DecisionState> {
    if (sessionId !== undefined) validateSessionId(sessionId);
    const all: RevocationSubjects = sessionId === undefined ? subjects : { ...subjects, sessionId };
    validateSubjects(all);
    const session = sessionId === undefined ? undefined : await this.#sessions.get(sessionId);
    const targets = revocationTargets(all);
    const records = targets.map((t) => this.#revocations.peek(t.kind, t.value));
    return { session, revocation: matchRevocation(targets, records, all, session?.createdAt) };
  }
}
