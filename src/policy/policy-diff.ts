/**
 * `mcp-pdp policy diff A B`: what changes between two policy sets, policy by policy (by `@id`),
 * with the text of each change, and file by file for everything else (schema, entities, tool
 * definitions). Both sets are loaded and validated first: a set that does not load is refused.
 */
import { createTwoFilesPatch } from "diff";
import type { LoadedPolicySet } from "./load-policy-set.js";
import { SourceText, splitPolicies } from "./policy-source.js";

/** One policy as a set holds it. */
export interface PolicyText {
  readonly id: string;
  readonly file: string;
  readonly line: number;
  readonly text: string;
}

/** A changed policy: both texts and a unified diff between them. */
export interface ChangedPolicy {
  readonly id: string;
  readonly before: PolicyText;
  readonly after: PolicyText;
  /** Unified diff of the policy's text (header lines name the files and the `@id`). */
  readonly patch: string;
}

/** What differs between two sets. */
export interface PolicyDiff {
  readonly from: { readonly dir: string; readonly version: string };
  readonly to: { readonly dir: string; readonly version: string };
  readonly added: readonly PolicyText[];
  readonly removed: readonly PolicyText[];
  readonly changed: readonly ChangedPolicy[];
  /** Policies whose text is the same but that moved to another file. */
  readonly moved: readonly { readonly id: string; readonly from: string; readonly to: string }[];
  /** Files other than policies (schema, entities, definitions) that were added, removed or changed. */
  readonly files: readonly { readonly path: string; readonly change: "added" | "removed" | "changed"; readonly patch?: string }[];
}

/** Every policy of a set by `@id`, with its text as written. */
export function policyTexts(set: LoadedPolicySet): Map<string, PolicyText> {
  const out = new Map<string, PolicyText>();
  for (const f of set.sources) {
    if (!f.path.endsWith(".cedar")) continue;
    const source = new SourceText(f.text);
    for (const span of splitPolicies(source)) {
      if (span.id === undefined) continue;
      out.set(span.id, { id: span.id, file: f.path, line: span.line, text: source.bytes.subarray(span.start, span.end).toString("utf8") });
    }
  }
  return out;
}

const byId = (a: { id: string }, b: { id: string }) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** Compares two loaded sets. */
export function diffPolicySets(a: LoadedPolicySet, b: LoadedPolicySet): PolicyDiff {
  const before = policyTexts(a);
  const after = policyTexts(b);
  const added: PolicyText[] = [];
  const removed: PolicyText[] = [];
  const changed: ChangedPolicy[] = [];
  const moved: { id: string; from: string; to: string }[] = [];
  for (const [id, p] of after) {
    const old = before.get(id);
    if (!old) added.push(p);
    else if (old.text.trim() !== p.text.trim())
      changed.push({ id, before: old, after: p, patch: createTwoFilesPatch(`a/${old.file} @id(${id})`, `b/${p.file} @id(${id})`, `${old.text.trim()}\n`, `${p.text.trim()}\n`, "", "", { context: 3 }) });
    else if (old.file !== p.file) moved.push({ id, from: old.file, to: p.file });
  }
  for (const [id, p] of before) if (!after.has(id)) removed.push(p);
  const filesA = new Map(a.sources.filter((f) => !f.path.endsWith(".cedar")).map((f) => [f.path, f.text]));
  const filesB = new Map(b.sources.filter((f) => !f.path.endsWith(".cedar")).map((f) => [f.path, f.text]));
  const files: PolicyDiff["files"][number][] = [];
  for (const [path, text] of filesB) {
    const old = filesA.get(path);
    if (old === undefined) files.push({ path, change: "added" });
    else if (old !== text) files.push({ path, change: "changed", patch: createTwoFilesPatch(`a/${path}`, `b/${path}`, old, text, "", "", { context: 2 }) });
  }
  for (const path of filesA.keys()) if (!filesB.has(path)) files.push({ path, change: "removed" });
  files.sort((x, y) => (x.path < y.path ? -1 : 1));
  return {
    from: { dir: a.dir, version: a.version },
    to: { dir: b.dir, version: b.version },
    added: added.sort(byId),
    removed: removed.sort(byId),
    changed: changed.sort(byId),
    moved: moved.sort(byId),
    files,
  };
}

/** The diff as text: a summary line, then each change with its text. */
export function formatPolicyDiff(d: PolicyDiff): string {
  const out: string[] = [];
  out.push(`${d.from.dir} (version ${d.from.version}) → ${d.to.dir} (version ${d.to.version})`);
  out.push(`${d.added.length} added, ${d.removed.length} removed, ${d.changed.length} changed, ${d.moved.length} moved; ${d.files.length} other file(s) differ`);
  // Only the hunks: the header lines name the files, which the line above each change already says.
  const hunks = (patch: string) => patch.slice(patch.indexOf("@@")).trimEnd();
  const indent = (text: string, mark: string) => text.trim().split("\n").map((l) => `${mark} ${l}`).join("\n");
  for (const p of d.added) out.push("", `+ added   ${p.id}  (${p.file}:${p.line})`, indent(p.text, "+"));
  for (const p of d.removed) out.push("", `- removed ${p.id}  (${p.file}:${p.line})`, indent(p.text, "-"));
  for (const c of d.changed) out.push("", `~ changed ${c.id}  (${c.before.file}:${c.before.line} → ${c.after.file}:${c.after.line})`, hunks(c.patch));
  for (const m of d.moved) out.push("", `> moved   ${m.id}  (${m.from} → ${m.to}), text unchanged`);
  for (const f of d.files) out.push("", `${f.change === "added" ? "+" : f.change === "removed" ? "-" : "~"} ${f.change} file ${f.path}`, ...(f.patch ? [hunks(f.patch)] : []));
  return `${out.join("\n")}\n`;
}
