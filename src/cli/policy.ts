/**
 * `mcp-pdp policy validate|test`: the security team's checks, for their editor and their CI.
 * Exit status: 0 all good, 1 invalid policies or a failing case, 2 usage error.
 */
import "../policy/v8-guard.js";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { packageRoot } from "../config/load-config.js";
import { PdpError } from "../errors.js";
import { createCedarEngine } from "../policy/cedar-engine.js";
import { loadDecisionCases, runDecisionCases } from "../policy/decision-cases.js";
import type { DecisionCaseResult } from "../policy/decision-cases.js";
import { loadPolicySet } from "../policy/load-policy-set.js";
import type { LoadedPolicySet } from "../policy/load-policy-set.js";
import { UsageError } from "./usage-error.js";

const USAGE = `usage: mcp-pdp policy validate [DIR]
       mcp-pdp policy test [DIR] [--json | --junit FILE]
DIR is a policy directory (schema.cedarschema, policies/, entities/; default: the bundled cedar/).
validate  parses and validates every file in strict mode against the schema; prints one line,
          or every problem as file:line [policy @id] message — help.
test      also runs the decision cases in DIR/tests/*.json (format: docs/policies.md) and prints
          one line per case; --json prints a JSON report instead; --junit FILE also writes JUnit XML.
Exit status: 0 valid / all cases pass, 1 invalid policies or a failing case, 2 usage error.`;

/** Runs `mcp-pdp policy …`; resolves to the exit code. */
export async function policyCommand(argv: string[]): Promise<number> {
  const [sub, ...rest] = argv;
  switch (sub) {
    case "validate":
      return validateCommand(rest);
    case "test":
      return testCommand(rest);
    case "help":
    case "--help":
      process.stdout.write(`${USAGE}\n`);
      return 0;
    case undefined:
      throw new UsageError(USAGE);
    default:
      throw new UsageError(`unknown policy command "${sub}"\n\n${USAGE}`);
  }
}

function parse(argv: string[], withReports: boolean): { dir: string; json: boolean; junit: string | undefined } {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: withReports ? { json: { type: "boolean", default: false }, junit: { type: "string" } } : {},
    });
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n\n${USAGE}`);
  }
  if (parsed.positionals.length > 1) throw new UsageError(`at most one directory\n\n${USAGE}`);
  const values = parsed.values as { json?: boolean; junit?: string };
  if (values.json && values.junit !== undefined) throw new UsageError(`--json and --junit exclude each other\n\n${USAGE}`);
  return { dir: parsed.positionals[0] ?? path.join(packageRoot, "cedar"), json: values.json ?? false, junit: values.junit };
}

/** The set, or the diagnostics printed (to stderr, or as JSON) and undefined. */
function load(dir: string, json: boolean): LoadedPolicySet | undefined {
  try {
    return loadPolicySet(dir);
  } catch (err) {
    const problems = PdpError.from(err, "POLICY_INVALID").message.split("\n");
    if (json) process.stdout.write(`${JSON.stringify({ dir: display(dir), valid: false, problems }, null, 2)}\n`);
    else {
      process.stderr.write(`✗ ${display(dir)}: invalid — ${problems.length} problem${problems.length === 1 ? "" : "s"}\n`);
      for (const p of problems) process.stderr.write(`  ${p}\n`);
    }
    return undefined;
  }
}

function validateCommand(argv: string[]): number {
  const { dir } = parse(argv, false);
  const loaded = load(dir, false);
  if (!loaded) return 1;
  const policyFiles = loaded.files.filter((f) => f.startsWith("policies/")).length;
  process.stdout.write(
    `✓ ${display(dir)}: valid — version ${loaded.version}, ${loaded.policies.size} policies in ${policyFiles} files, ` +
      `${loaded.entities.length} entities${loaded.warnings.length ? `, ${loaded.warnings.length} warnings` : ""}\n`,
  );
  for (const w of loaded.warnings) process.stdout.write(`  warning: ${w}\n`);
  return 0;
}

function testCommand(argv: string[]): number {
  const { dir, json, junit } = parse(argv, true);
  const loaded = load(dir, json);
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
    if (json) process.stdout.write(`${JSON.stringify({ dir: display(dir), valid: true, version: loaded.version, error: message }, null, 2)}\n`);
    else process.stderr.write(`✗ ${display(casesDir)}: ${message}\n`);
    return 1;
  }
  const failed = results.filter((r) => !r.passed).length;
  if (json) process.stdout.write(`${JSON.stringify(jsonReport(dir, loaded, results), null, 2)}\n`);
  else {
    process.stdout.write(`${display(dir)} (version ${loaded.version}): ${results.length} cases\n`);
    for (const r of results) {
      process.stdout.write(`${r.passed ? "✓" : "✗"} ${r.case.file} › ${r.case.name}\n`);
      for (const m of r.mismatches) process.stdout.write(`    ${m}\n`);
    }
    process.stdout.write(`${results.length} cases: ${results.length - failed} passed, ${failed} failed\n`);
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
