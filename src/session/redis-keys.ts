import { DEFAULT_KEY_PREFIX, checkKeyPrefix } from "../redis/keys.js";
import type { RevocationKind, SubjectRef } from "./types.js";

/**
 * The Redis key layout of the session and revocation stores.
 *
 * | key | type | TTL |
 * |---|---|---|
 * | `<p>{s:<id>}` | hash: binding, grants, times, state, callCount, riskTotal | expiresAt + retention |
 * | `<p>{s:<id>}:tools` | list: recent tool names (LTRIM-bounded) | same as the hash |
 * | `<p>{s:<id>}:labels` | set: accumulated data labels | same as the hash |
 * | `<p>{s:<id>}:rev` | string: JSON revocation of this session | the revocation's ttlMs |
 * | `<p>rev:<agent\|user\|client\|jti>:<value>` | string: JSON revocation | the revocation's ttlMs |
 * | `<p>idx:<agent\|user\|client>:<value>` | sorted set: session id → expiresAt | latest expiresAt + retention |
 * | `<p>tooldefs:<serverId>` | hash: tool name → JSON reported definition and pin | none (replaced by the next report) |
 * | `<p>revocations` | pub/sub channel | — |
 *
 * Slots: the `{s:<id>}` hash tag puts all of one session's keys in one Cluster slot, so the
 * create/append/end scripts and the session's read pipeline are single-slot (legal on a Cluster).
 * Index and revocation keys are single-key operations, each in its own slot: a session's keys and
 * its subjects' index keys can never share a slot (many sessions per subject), so `create` writes
 * the indexes first, then the session (no cross-slot transaction is needed, and a failure between
 * leaves only a harmless dangling index entry). The prefix may not contain braces, or it would
 * become the hash tag of every key.
 */
export class RedisKeys {
  /** The configured prefix. */
  readonly prefix: string;
  /** The revocation pub/sub channel. */
  readonly channel: string;

  constructor(prefix: string = DEFAULT_KEY_PREFIX) {
    this.prefix = checkKeyPrefix(prefix, "redis key prefix");
    this.channel = `${prefix}revocations`;
  }

  /** The session's hash. */
  session(id: string): string {
    return `${this.prefix}{s:${id}}`;
  }

  /** The session's recent-tools list. */
  sessionTools(id: string): string {
    return `${this.prefix}{s:${id}}:tools`;
  }

  /** The session's labels set. */
  sessionLabels(id: string): string {
    return `${this.prefix}{s:${id}}:labels`;
  }

  /** The revocation record of (kind, value); a session's lives in that session's slot. */
  revocation(kind: RevocationKind, value: string): string {
    return kind === "session" ? `${this.prefix}{s:${value}}:rev` : `${this.prefix}rev:${kind}:${value}`;
  }

  /** A server's reported tool definitions (hash: tool name → JSON). */
  toolDefinitions(serverId: string): string {
    return `${this.prefix}tooldefs:${serverId}`;
  }

  /** The index of a subject's sessions. */
  index(subject: SubjectRef): string {
    return `${this.prefix}idx:${subject.kind}:${subject.value}`;
  }
}
