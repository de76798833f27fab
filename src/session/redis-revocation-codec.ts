import type { RevocationTarget } from "./match-revocation.js";
import type { RevocationRecord } from "./types.js";

/**
 * Decodes a stored revocation (JSON `{kind, value, at}`) read for `target`; null when none is stored.
 * A value that does not decode refuses everything for that target (fail closed): `at` = +∞.
 */
export function decodeRevocation(raw: string | null | undefined, target: RevocationTarget): RevocationRecord | null {
  if (raw === null || raw === undefined) return null;
  try {
    const r = JSON.parse(raw) as RevocationRecord;
    if (r.kind === target.kind && r.value === target.value && typeof r.at === "number" && Number.isFinite(r.at)) {
      return { kind: r.kind, value: r.value, at: r.at };
    }
  } catch {
    // fall through
  }
  return { kind: target.kind, value: target.value, at: Number.MAX_SAFE_INTEGER };
}
