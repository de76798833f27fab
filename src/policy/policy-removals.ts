/**
 * What a new policy version drops from the one in force: policies (by `@id`) and files. A removal
 * weakens or widens what the set decides just as an addition does (dropping a `forbid` allows, a
 * half-written file looks like a removal), so it is named in the log and, in production, needs a
 * manifest that announces it.
 */
import type { LoadedPolicySet } from "./load-policy-set.js";

/** Policies and files of the old version that the new one lacks. */
export interface PolicyRemovals {
  /** `@id`s, sorted. */
  readonly policies: readonly string[];
  /** Relative paths, sorted. */
  readonly files: readonly string[];
}

/** What `next` drops from `previous`, or undefined when it drops nothing. */
export function removalsBetween(previous: Pick<LoadedPolicySet, "policies" | "files">, next: Pick<LoadedPolicySet, "policies" | "files">): PolicyRemovals | undefined {
  const ids = new Set([...next.policies.values()].map((p) => p.id));
  const policies = [...new Set([...previous.policies.values()].map((p) => p.id))].filter((id) => !ids.has(id)).sort();
  const files = previous.files.filter((f) => !next.files.includes(f)).sort();
  return policies.length === 0 && files.length === 0 ? undefined : { policies, files };
}

/** One line naming them: `removes 2 policies (a, b) and 1 file (policies/x.cedar)`. */
export function describeRemovals(r: PolicyRemovals): string {
  const parts: string[] = [];
  if (r.policies.length > 0) parts.push(`${r.policies.length} ${r.policies.length === 1 ? "policy" : "policies"} (${r.policies.join(", ")})`);
  if (r.files.length > 0) parts.push(`${r.files.length} ${r.files.length === 1 ? "file" : "files"} (${r.files.join(", ")})`);
  return `the new version removes ${parts.join(" and ")}`;
}
