import type { RevocationKind, RevocationRecord, RevocationSubjects } from "./types.js";

/** One (kind, value) pair to look up among the revocations. */
export interface RevocationTarget {
  readonly kind: RevocationKind;
  readonly value: string;
}

/** The revocation keys relevant to `subjects`, in checking order: session, agent, user, client, then each jti. */
export function revocationTargets(subjects: RevocationSubjects): RevocationTarget[] {
  const out: RevocationTarget[] = [];
  if (subjects.sessionId !== undefined) out.push({ kind: "session", value: subjects.sessionId });
  if (subjects.agentId !== undefined) out.push({ kind: "agent", value: subjects.agentId });
  if (subjects.user !== undefined) out.push({ kind: "user", value: subjects.user });
  if (subjects.clientId !== undefined) out.push({ kind: "client", value: subjects.clientId });
  for (const jti of subjects.tokenIds ?? []) out.push({ kind: "jti", value: jti });
  return out;
}

/**
 * Whether a stored revocation refuses these subjects. Session and jti revocations always do.
 * Agent/user/client revocations refuse tokens issued at or before the revocation (or of unknown
 * issue time), and a session created at or before it.
 */
export function refuses(record: RevocationRecord, subjects: RevocationSubjects, sessionCreatedAt?: number): boolean {
  if (record.kind === "session" || record.kind === "jti") return true;
  if (subjects.tokensIssuedAt === undefined || subjects.tokensIssuedAt <= record.at) return true;
  return sessionCreatedAt !== undefined && sessionCreatedAt <= record.at;
}

/**
 * The first of `records` (aligned with `targets`; null/undefined where none is stored) that refuses
 * the subjects, or null. A record that does not name its target (corrupt data) refuses: fail closed.
 */
export function matchRevocation(
  targets: readonly RevocationTarget[],
  records: ReadonlyArray<RevocationRecord | null | undefined>,
  subjects: RevocationSubjects,
  sessionCreatedAt?: number,
): RevocationRecord | null {
  for (let i = 0; i < targets.length; i++) {
    const record = records[i];
    const target = targets[i]!;
    if (!record) continue;
    if (record.kind !== target.kind || record.value !== target.value) return { kind: target.kind, value: target.value, at: record.at };
    if (refuses(record, subjects, sessionCreatedAt)) return record;
  }
  return null;
}
