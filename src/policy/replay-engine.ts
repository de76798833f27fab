/**
 * Engines for replay: a policy version built from its files (a directory, or the texts the policy
 * archive kept), each preparsed under its own slot so that several versions can be evaluated side
 * by side in one thread. Checked exactly as a live set is (strict validation): a version that does
 * not load is refused, never half-used.
 */
import { PdpError } from "../errors.js";
import { createCedarEngine } from "./cedar-engine.js";
import { loadPolicySet, loadPolicySnapshot, type LoadedPolicySet } from "./load-policy-set.js";
import type { PolicyEngine } from "./types.js";

/** A version with its loaded set (for `policy diff` and the report). */
export interface ReplayVersion {
  readonly loaded: LoadedPolicySet;
  readonly engine: PolicyEngine;
}

let slots = 0;
const nextSlot = (what: string) => `replay-${what}-${++slots}`;

/** Loads and preparses a policy directory. Throws PdpError POLICY_INVALID. */
export function replayVersionOfDir(dir: string): ReplayVersion {
  const loaded = loadPolicySet(dir);
  return { loaded, engine: createCedarEngine(loaded, { slot: nextSlot("dir") }) };
}

/**
 * Loads and preparses the files of an archived version (`LoadedPolicySet.sources`). Throws
 * PdpError POLICY_INVALID; the version they hash to must be `version`, or it is refused.
 */
export function replayVersionOfFiles(version: string, files: readonly { readonly path: string; readonly text: string }[]): ReplayVersion {
  const dir = `(archived version ${version})`;
  const loaded = loadPolicySnapshot({ dir, root: dir, files: new Map(files.map((f) => [f.path, Buffer.from(f.text, "utf8")])), problems: new Map() });
  if (loaded.version !== version) throw new PdpError("POLICY_INVALID", `the archived texts of ${version} hash to ${loaded.version}`);
  return { loaded, engine: createCedarEngine(loaded, { slot: nextSlot(version) }) };
}
