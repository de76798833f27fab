/**
 * `mcp-pdp policy validate|test`: the security team's checks, for their editor and their CI.
 * Exit status: 0 all good, 1 invalid policies or a failing case, 2 usage error.
 */
import "../policy/v8-guard.js";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { packageRoot } from "../config/load-config.js";
import { PdpError } from "../errors.js";
import { createCedarEngine } from "../policy/cedar-engine.js";
import { loadDecisionCases, runDecisionCases } from "../policy/decision-cases.js";
import type { DecisionCaseResult } from "../policy/decision-cases.js";
import { loadPolicySet } from "../policy/load-policy-set.js";
import { diffPolicySets, formatPolicyDiff } from "../policy/policy-diff.js";
import type { LoadedPolicySet } from "../policy/load-policy-set.js";
import type { CliIo } from "./cli-io.js";

/** The options of `mcp-pdp policy test`. */
export interface PolicyTestOptions {
  readonly json?: boolean | undefined;
  readonly junit?: string | undefined;
}

/** The directory to check: the one given, else the bundled `cedar/`. */
const dirOf = (dir: string | undefined) => dir ?? path.join(packageRoot, "cedar");

/** The set, or the diagnostics printed (to stderr, or as JSON) and undefined. */
function load(dir: string, json: boolean, io: CliIo): LoadedPolicySet | undefined {
  try {
    return loadPolicySet(dir);
  } catch (err) {
    const problems = PdpError.from(err, "POLICY_INVALID").message.split("\n");
    if (json) io.out(`${JSON.stringify({ dir: display(dir), valid: false, problems }, null, 2)}\n`);
    else {
      io.err(`✗ ${display(dir)}: invalid — ${problems.length} problem${problems.length === 1 ? "" : "s"}\n`);
      for (const p of problems) io.err(`  ${p}\n`);
    }
    return undefined;
  }
}

/** `mcp-pdp policy validate [DIR]`: 0 valid (a summary line), 1 invalid (every problem). */
export function policyValidate(dirArg: string | undefined, io: CliIo): number {
  const dir = dirOf(dirArg);
  const loaded = load(dir, false, io);
  if (!loaded) return 1;
  const policyFiles = loaded.files.filter((f) => f.startsWith("policies/")).length;
  io.out(
    `✓ ${display(dir)}: valid — version ${loaded.version}, ${loaded.policies.size} policies in ${policyFiles} files, ` +
      `${loaded.entities.length} entities${loaded.manifest ? ", every file matches SHA256SUMS" : ""}${loaded.warnings.length ? `, ${loaded.warnings.length} warnings` : ""}\n`,
  );
  for (const w of loaded.warnings) io.out(`  warning: ${w}\n`);
  return 0;
}

/** `mcp-pdp policy diff A B`: policies added, removed and changed (by `@id`) with their text; 1 when a set does not load. */
export function policyDiff(a: string, b: string, { json = false }: { readonly json?: boolean | undefined }, io: CliIo): number {
  const from = load(a, json, io);
  if (!from) return 1;
  const to = load(b, json, io);
  if (!to) return 1;
  const d = diffPolicySets(from, to);
  const shown = { ...d, from: { ...d.from, dir: display(a) }, to: { ...d.to, dir: display(b) } };
  io.out(json ? `${JSON.stringify(shown, null, 2)}\n` : formatPolicyDiff(shown));
  return 0;
}

/** `mcp-pdp policy test [DIR]`: 0 when every decision case passes, 1 otherwise. */
export function policyTest(dirArg: string | undefined, { json = false, junit }: PolicyTestOptions, io: CliIo): number {
  const dir = dirOf(dirArg);
  const loaded = load(dir, json, io);
  if (!loaded) return 1;
  const casesDir = path.join(dir, "tests");
  let results: DecisionCaseResult[];
  try {
    const cases = loadDecisionCases(casesDir);
    if (cases.length === 0) throw new PdpError("POLICY_INVALID", `no decision cases in ${display(casesDir)}/*.json`);
    results = runDecisionCases(createCedarEngine(loaded, { slot: "mcp-pdp-policy-test" }), cases);
  } catch (err) {
    const e = PdpError.from(err, "POLICY_INVALID");
    const message = (err as NodeJS.ErrnoException).code === "ENOENT" ? `no ${display(casesDir)} directory` : e.message;
    if (json) io.out(`${JSON.stringify({ dir: display(dir), valid: true, version: loaded.version, error: message }, null, 2)}\n`);
    else io.err(`✗ ${display(casesDir)}: ${message}\n`);
    return 1;
  }
  const failed = results.filter((r) => !r.passed).length;
  if (json) io.out(`${JSON.stringify(jsonReport(dir, loaded, results), null, 2)}\n`);
  else {
    io.out(`${display(dir)} (version ${loaded.version}): ${results.length} cases\n`);
    for (const r of results) {
      io.out(`${r.passed ? "✓" : "✗"} ${r.case.file} › ${r.case.name}\n`);
      for (const m of r.mismatches) io.out(`    ${m}\n`);
    }
    io.out(`${results.length} cases: ${results.length - failed} passed, ${failed} failed\n`);
  }
  if (junit !== undefined) writeFileSync(junit, junitReport(loaded, results));
  return failed === 0 ? 0 : 1;
}

function jsonReport(dir: string, loaded: LoadedPolicySet, results: readonly DecisionCaseResult[]): unknown {
  const failed = results.filter((r) => !r.passed).length;
  return {
    dir: display(dir),
    valid: true,
    version: loaded.version,
    total: results.length,
    passed: results.length - failed,
    failed,
    cases: results.map((r) => ({
      file: r.case.file,
      name: r.case.name,
      passed: r.passed,
      expected: r.case.expect,
      actual: { decision: r.actual.decision, outcome: r.actual.outcome, reasons: r.actual.reasons.map((x) => x.policyId) },
      mismatches: r.mismatches,
    })),
  };
}

/** JUnit XML: one `<testsuite>` per case file, one `<testcase>` per case. */
function junitReport(loaded: LoadedPolicySet, results: readonly DecisionCaseResult[]): string {
  const byFile = new Map<string, DecisionCaseResult[]>();
  for (const r of results) byFile.set(r.case.file, [...(byFile.get(r.case.file) ?? []), r]);
  const failed = results.filter((r) => !r.passed).length;
  const lines = [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<testsuites name="mcp-pdp policy test" tests="${results.length}" failures="${failed}">`,
  ];
  for (const [file, rs] of byFile) {
    const f = rs.filter((r) => !r.passed).length;
    lines.push(`  <testsuite name="${xml(file)}" tests="${rs.length}" failures="${f}">`);
    lines.push(`    <properties><property name="policy_version" value="${xml(loaded.version)}"/></properties>`);
    for (const r of rs) {
      const open = `    <testcase classname="${xml(file)}" name="${xml(r.case.name)}"`;
      if (r.passed) lines.push(`${open}/>`);
      else {
        lines.push(`${open}>`);
        lines.push(`      <failure message="${xml(r.mismatches[0] ?? "failed")}">${xml(r.mismatches.join("\n"))}</failure>`);
        lines.push(`    </testcase>`);
      }
    }
    lines.push(`  </testsuite>`);
  }
  lines.push(`</testsuites>`, "");
  return lines.join("\n");
}

function xml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function display(dir: string): string {
  const rel = path.relative(process.cwd(), path.resolve(dir));
  return rel === "" ? "." : rel.startsWith("..") || path.isAbsolute(rel) ? path.resolve(dir) : rel;
}
