// Runs every decision case under cedar/tests/ as its own named test.
import assert from "node:assert/strict";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { test } from "node:test";
import { createCedarEngine, loadDecisionCases, loadPolicySet, runDecisionCase } from "../../src/policy/index.js";

const cedarDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../cedar");
const engine = createCedarEngine(loadPolicySet(cedarDir));
const cases = loadDecisionCases(path.join(cedarDir, "tests"));

test("there are at least 10 decision cases, allows and denies", () => {
  assert.ok(cases.length >= 10, `only ${cases.length} cases`);
  assert.ok(cases.some((c) => c.expect.decision === "allow"));
  assert.ok(cases.some((c) => c.expect.decision === "deny"));
});

for (const c of cases) {
  test(`${c.file} › ${c.name}`, () => {
    const result = runDecisionCase(engine, c);
    assert.deepEqual(result.mismatches, [], result.mismatches.join("\n"));
    assert.equal(result.passed, true);
  });
}
