/** Temporary copies of a `cedar/` directory with generated policies added up to a total (as bench/authorize.ts makes them). */
import { cpSync, mkdtempSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { addGeneratedPolicies } from "../../test/policy/support/generated-policies.js";
import { countCedarPolicies } from "../peer/cedar-to-cerbos.js";

/**
 * Copies `source` (a cedar/ directory) into a new temporary folder and adds generated policies so
 * that it holds at least `total` (the shipped ones are always kept). Returns the folder and the
 * count it holds; `temps` gets the folder to delete at the end.
 */
export function policyCopy(source: string, total: number, temps: string[]): { dir: string; total: number } {
  const root = mkdtempSync(path.join(os.tmpdir(), `mcp-pdp-bench-${total}-`));
  temps.push(root);
  const dir = path.join(root, "cedar");
  cpSync(source, dir, { recursive: true });
  const shipped = countCedarPolicies(dir);
  const extra = Math.max(0, total - shipped);
  if (extra > 0) addGeneratedPolicies(dir, extra);
  return { dir, total: shipped + extra };
}
