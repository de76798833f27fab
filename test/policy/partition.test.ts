/**
 * Partitioning must never change an answer: over thousands of random requests (agents, tools,
 * servers, purposes, scopes, arguments, session facts, every action), the partitioned engine and
 * the whole set decide the same — decision, outcome, reasons (with their @reason) and errors.
 */
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { createCedarEngine, loadPolicySet } from "../../src/policy/index.js";
import type { DecisionInput, LoadedPolicySet, PolicyDecision, PolicyEngine } from "../../src/policy/index.js";
import { planPartitions } from "../../src/policy/policy-partition.js";
import { addGeneratedPolicies } from "./support/generated-policies.js";
import { randomRequests } from "./support/random-requests.js";

const shipped = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../cedar");
const temps: string[] = [];
after(() => temps.forEach((d) => rmSync(d, { recursive: true, force: true })));

function withGenerated(count: number): LoadedPolicySet {
  const dir = mkdtempSync(path.join(os.tmpdir(), "mcp-pdp-partition-"));
  temps.push(dir);
  cpSync(shipped, dir, { recursive: true });
  addGeneratedPolicies(dir, count);
  return loadPolicySet(dir);
}

/** The comparable part of a decision (error order is not stable in Cedar). */
function shape(d: PolicyDecision): unknown {
  return { decision: d.decision, outcome: d.outcome, reasons: d.reasons, errors: [...d.errors].sort() };
}

function assertSame(partitioned: PolicyEngine, whole: PolicyEngine, requests: readonly DecisionInput[]): Map<string, number> {
  const outcomes = new Map<string, number>();
  for (const [i, input] of requests.entries()) {
    const a = partitioned.evaluate(input);
    const b = whole.evaluate(input);
    assert.deepEqual(shape(a), shape(b), `request ${i} differs: ${JSON.stringify(input)}`);
    outcomes.set(a.outcome, (outcomes.get(a.outcome) ?? 0) + 1);
  }
  return outcomes;
}

test("shipped policies: partitioned and whole set decide the same over 2,000 random requests", () => {
  const loaded = loadPolicySet(shipped);
  const outcomes = assertSame(
    createCedarEngine(loaded, { slot: "partition-test-shipped-p" }),
    createCedarEngine(loaded, { slot: "partition-test-shipped-w", partition: false }),
    randomRequests(loaded, 2000, 1),
  );
  // The generator must reach every kind of answer, or the comparison proves little.
  for (const o of ["permit", "forbid", "no_permit", "error"]) assert.ok((outcomes.get(o) ?? 0) > 10, `too few ${o}: ${JSON.stringify([...outcomes])}`);
});

test("shipped + 400 generated policies: partitioned and whole set decide the same over 4,000 random requests", () => {
  const loaded = withGenerated(400);
  const outcomes = assertSame(
    createCedarEngine(loaded, { slot: "partition-test-gen-p" }),
    createCedarEngine(loaded, { slot: "partition-test-gen-w", partition: false }),
    randomRequests(loaded, 4000, 2),
  );
  for (const o of ["permit", "forbid", "no_permit", "error"]) assert.ok((outcomes.get(o) ?? 0) > 10, `too few ${o}: ${JSON.stringify([...outcomes])}`);
});

test("the fallback plan (partitions per action only, over maxPartitions) decides the same too", () => {
  const loaded = withGenerated(150);
  assertSame(
    createCedarEngine(loaded, { slot: "partition-test-max-p", maxPartitions: 1 }),
    createCedarEngine(loaded, { slot: "partition-test-max-w", partition: false }),
    randomRequests(loaded, 1000, 3),
  );
});

test("a generated tool's partition holds its own set's policies and the unscoped ones, not the others'", () => {
  const loaded = withGenerated(400);
  const plan = planPartitions(loaded.scopes!, loaded.entities);
  const ids = (cedarIds: readonly string[]) => cedarIds.map((c) => loaded.policies.get(c)!.id);
  const tool = plan.pick("call_tool", { type: "Tool", id: "https://svc-0.example.com/mcp#gen_tool_0_1" })!;
  const got = ids(tool.cedarIds);
  for (const id of ["gen-allow-0", "gen-purpose-0", "gen-risk-0", "gen-force-0", "gen-is-0", "idp-trust-boundary", "session-call-budget", "gen-blocked-arg-50", "gen-quarantine-100"])
    assert.ok(got.includes(id), `${id} missing from ${got.join(", ")}`);
  for (const id of ["gen-allow-1", "gen-open-0", "session-research-agents", "gen-force-7"]) assert.ok(!got.includes(id), `${id} should not be there`);
  assert.ok(got.length < loaded.policies.size / 5, `${got.length} of ${loaded.policies.size}`);
  // An unknown tool sees only the policies without a resource entity in their scope.
  const unknown = ids(plan.pick("call_tool", { type: "Tool", id: "https://svc-0.example.com/mcp#nope" })!.cedarIds);
  assert.ok(unknown.includes("production-write-requires-approval") && !unknown.includes("gen-allow-0"));
  // Distinct partitions are shared: far fewer than tools.
  assert.ok(plan.partitions.length < 400, `${plan.partitions.length} partitions`);
});
