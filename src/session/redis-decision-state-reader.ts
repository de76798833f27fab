import { PdpError } from "../errors.js";
import { validateSessionId, validateSubjects } from "./input-validation.js";
import { matchRevocation, revocationTargets } from "./match-revocation.js";
import { pipelineResults } from "../redis/pipeline-results.js";
import type { RedisClient } from "../redis/connection.js";
import { redisGuard } from "../redis/deadline.js";
import { RedisKeys } from "./redis-keys.js";
import { readRevocations } from "./redis-revocation-store.js";
import { decodeRevocation } from "./redis-revocation-codec.js";
import { decodeSession } from "./redis-session-codec.js";
import type { DecisionState, DecisionStateReader, RevocationSubjects, SessionRecord } from "./types.js";

/** Options for {@link RedisDecisionStateReader}. */
export interface RedisDecisionStateReaderOptions {
  /** The client shared with the stores; owned by the caller. */
  readonly client: RedisClient;
  /** Same prefix as the session and revocation stores. Default `mcp-pdp:`. */
  readonly keyPrefix?: string;
  /** Deadline of the whole load; past it, STORE_UNAVAILABLE. Default 500 ms. */
  readonly deadlineMs?: number;
}

/**
 * {@link DecisionStateReader} in Redis. Standalone/Sentinel: ONE pipeline, written at once —
 * HGETALL + LRANGE + SMEMBERS of the session and one MGET of every relevant revocation key — so one
 * round trip. Cluster: the session's pipeline (one slot) and the revocation GETs are sent together;
 * auto-pipelining batches them per node, so one round trip to each node involved, in parallel.
 */
export class RedisDecisionStateReader implements DecisionStateReader {
  readonly #client: RedisClient;
  readonly #keys: RedisKeys;
  readonly #deadline: number;

  constructor(options: RedisDecisionStateReaderOptions) {
    this.#client = options.client;
    this.#keys = new RedisKeys(options.keyPrefix);
    this.#deadline = options.deadlineMs ?? 500;
    if (!(this.#deadline > 0)) throw new PdpError("CONFIG_INVALID", "invalid RedisDecisionStateReader options");
  }

  async loadForDecision(sessionId: string | undefined, subjects: RevocationSubjects): Promise<DecisionState> {
    if (sessionId !== undefined) validateSessionId(sessionId);
    const all: RevocationSubjects = sessionId === undefined ? subjects : { ...subjects, sessionId };
    validateSubjects(all);
    const targets = revocationTargets(all);
    const k = this.#keys;
    return redisGuard("decision state load", this.#deadline, async () => {
      let session: SessionRecord | undefined;
      let records: ReturnType<typeof decodeRevocation>[];
      if (this.#client.isCluster) {
        const [res, recs] = await Promise.all([
          sessionId === undefined
            ? Promise.resolve(null)
            : this.#client.pipeline().hgetall(k.session(sessionId)).lrange(k.sessionTools(sessionId), 0, -1).smembers(k.sessionLabels(sessionId)).exec(),
          readRevocations(this.#client, k, targets),
        ]);
        if (sessionId !== undefined) {
          const [hash, tools, labels] = pipelineResults(res, 3);
          session = decodeSession(sessionId, hash as Record<string, string>, tools as string[], labels as string[]);
        }
        records = recs;
      } else {
        const p = this.#client.pipeline();
        if (sessionId !== undefined) p.hgetall(k.session(sessionId)).lrange(k.sessionTools(sessionId), 0, -1).smembers(k.sessionLabels(sessionId));
        if (targets.length > 0) p.mget(...targets.map((t) => k.revocation(t.kind, t.value)));
        const n = (sessionId === undefined ? 0 : 3) + (targets.length > 0 ? 1 : 0);
        const replies = n === 0 ? [] : pipelineResults(await p.exec(), n);
        if (sessionId !== undefined) {
          session = decodeSession(sessionId, replies[0] as Record<string, string>, replies[1] as string[], replies[2] as string[]);
        }
        const raws = (targets.length > 0 ? replies[n - 1] : []) as Array<string | null>;
        records = targets.map((t, i) => decodeRevocation(raws[i], t));
      }
      return { session, revocation: matchRevocation(targets, records, all, session?.createdAt) };
    });
  }
}
