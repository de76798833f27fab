/**
 * Two versions in one Cedar call (`evaluateBeside`, union-policy-set.ts) must answer exactly as two
 * separate evaluations: for each version the same decision, outcome, reasons (with @reason and
 * obligations) and errors — over the shipped decision cases and thousands of random requests, for
 * candidates that add forbids (one that errors at run time), drop a file, turn a forbid into a
 * permit, change only a @reason, and over a set grown by generated policies.
 */
import assert from "node:assert/strict";
import { appendFileSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { createCedarEngine, loadDecisionCases, loadPolicySet, resolveCaseInput } from "../../src/policy/index.js";
import type { DecisionInput, LoadedPolicySet, PolicyDecision, PolicyEngine } from "../../src/policy/index.js";
import { asPermit } from "../../src/policy/union-policy-set.js";
import { addGeneratedPolicies } from "./support/generated-policies.js";
import { randomRequests } from "./support/random-requests.js";

const shipped = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../cedar");
const temps: string[] = [];
after(() => temps.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A copy of `from` changed by `edit`, loaded. */
function variant(from: string, edit: (dir: string) => void = () => {}): { dir: string; loaded: LoadedPolicySet } {
  const dir = mkdtempSync(path.join(os.tmpdir(), "mcp-pdp-beside-"));
  temps.push(dir);
  cpSync(from, dir, { recursive: true });
  edit(dir);
  return { dir, loaded: loadPolicySet(dir) };
}

const ADDED_FORBIDS = `
@id("cand-forbid-search")
@reason("search is withdrawn")
forbid (principal, action == Action::"call_tool", resource == Tool::"https://docs.example.com/mcp#search_documents");

@id("cand-forbid-marketing")
@reason("no marketing") // a comment after the annotations
forbid (principal, action, resource) when { context.purpose == "marketing" };

@id("cand-forbid-overflow")
@reason("errors once the session's risk passes 23: the multiplication overflows")
forbid (principal, action, resource) when { context has session && context.session.risk_total * 400000000000000000 > 0 };
`;

/** The comparable part of a decision (Cedar's own error order is not stable). */
function shape(d: PolicyDecision): unknown {
  return { decision: d.decision, outcome: d.outcome, reasons: d.reasons, errors: [...d.errors].sort(), version: d.version };
}

function inputsFor(a: PolicyEngine, loaded: LoadedPolicySet, n: number, seed: number): DecisionInput[] {
  return [...loadDecisionCases(path.join(shipped, "tests")).map((c) => resolveCaseInput(a, c)), ...randomRequests(loaded, n, seed)];
}

/** Compares one call beside against two separate evaluations, both ways round; returns how each side's outcomes spread and how many went through a union. */
function assertBeside(a: PolicyEngine, b: PolicyEngine, inputs: readonly DecisionInput[]): { outcomes: Map<string, number>; unions: number } {
  const outcomes = new Map<string, number>();
  let unions = 0;
  for (const [i, input] of inputs.entries()) {
    for (const [x, y] of [[a, b], [b, a]] as const) {
      const both = x.evaluateBeside!(y.parts!, input);
      assert.ok(both, `request ${i}: the two versions could not share a call`);
      assert.deepEqual(shape(both[0]), shape(x.evaluate(input)), `request ${i}, first version: ${JSON.stringify(input)}`);
      assert.deepEqual(shape(both[1]), shape(y.evaluate(input)), `request ${i}, second version: ${JSON.stringify(input)}`);
      for (const d of both) outcomes.set(`${d.version === a.version ? "a" : "b"}:${d.outcome}`, (outcomes.get(`${d.version === a.version ? "a" : "b"}:${d.outcome}`) ?? 0) + 1);
    }
    if (a.evaluationKey!(input) !== b.evaluationKey!(input)) unions++;
  }
  return { outcomes, unions };
}

test("asPermit turns exactly the effect keyword of a forbid into permit, annotations and comments before it or not", () => {
  assert.equal(asPermit('@id("a")\n@reason("forbid (x)") // forbid\nforbid (principal, action, resource);'), '@id("a")\n@reason("forbid (x)") // forbid\npermit (principal, action, resource);');
  assert.equal(asPermit('forbid(principal, action, resource) when { "forbid" == "forbid" };'), 'permit(principal, action, resource) when { "forbid" == "forbid" };');
  assert.equal(asPermit('@id("q\\")forbid")forbid (principal, action, resource);'), '@id("q\\")forbid")permit (principal, action, resource);');
  assert.equal(asPermit('@id("a") permit (principal, action, resource);'), undefined, "not a forbid: refused, never guessed");
});

test("shipped set vs candidates (added forbids, one erroring; a file dropped; a forbid made a permit; a @reason changed): one call gives both versions' exact answers", () => {
  const live = variant(shipped);
  const candidates = [
    variant(shipped, (d) => writeFileSync(path.join(d, "policies", "zz-candidate.cedar"), ADDED_FORBIDS)),
    variant(shipped, (d) => rmSync(path.join(d, "policies", "tool-allowlist.cedar"))),
    variant(shipped, (d) => {
      const f = path.join(d, "policies", "chain-rule.cedar");
      const text = readFileSync(f, "utf8");
      assert.match(text, /forbid/);
      writeFileSync(f, text.replace(/forbid/, "permit"));
    }),
    variant(shipped, (d) => {
      const f = path.join(d, "policies", "purpose-binding.cedar");
      writeFileSync(f, readFileSync(f, "utf8").replace(/@reason\("/, '@reason("(reworded) '));
    }),
  ];
  const a = createCedarEngine(live.loaded, { slot: "beside-live" });
  const inputs = inputsFor(a, live.loaded, 1500, 11);
  let total = 0;
  for (const [i, c] of candidates.entries()) {
    const b = createCedarEngine(c.loaded, { slot: `beside-candidate-${i}` });
    const { outcomes, unions } = assertBeside(a, b, inputs);
    total += unions;
    if (i === 0) {
      // The generator must reach every kind of answer on both sides, or the comparison proves little.
      for (const side of ["a", "b"]) for (const o of ["permit", "forbid", "no_permit", "error"]) assert.ok((outcomes.get(`${side}:${o}`) ?? 0) > 10, `too few ${side}:${o}: ${JSON.stringify([...outcomes])}`);
    }
  }
  assert.ok(total > 1000, `only ${total} requests went through a union`);
});

test("an erroring forbid in only one version: that version denies with outcome error, the other is unaffected", () => {
  const live = variant(shipped);
  const cand = variant(shipped, (d) => writeFileSync(path.join(d, "policies", "zz-candidate.cedar"), ADDED_FORBIDS));
  const a = createCedarEngine(live.loaded, { slot: "beside-err-live" });
  const b = createCedarEngine(cand.loaded, { slot: "beside-err-candidate" });
  const input: DecisionInput = {
    agent: { id: "spiffe://dev.mcp-pdp.local/agent/research-assistant", trustDomain: "dev.mcp-pdp.local" },
    user: { issuer: "https://dev-issuer.mcp-pdp.invalid", subject: "alice", scopes: [] },
    clientId: "dev-client",
    serverId: "https://docs.example.com/mcp",
    idp: "https://dev-issuer.mcp-pdp.invalid",
    action: "call_tool",
    tool: "read_document",
    purpose: "research",
    agentAttestation: "spiffe",
    arguments: {},
    session: { callCount: 3, tools: ["search_documents"], labels: [], riskTotal: 30 },
  };
  const [x, y] = a.evaluateBeside!(b.parts!, input)!;
  assert.equal(x.decision, a.evaluate(input).decision);
  assert.deepEqual(shape(y), shape(b.evaluate(input)));
  assert.equal(y.outcome, "error");
  assert.deepEqual(y.reasons.map((r) => r.policyId), ["cand-forbid-overflow"]);
  assert.ok(y.errors.some((e) => e.startsWith("cand-forbid-overflow: ")), JSON.stringify(y.errors));
});

test("shipped + 300 generated policies vs the same with added forbids: one call gives both versions' exact answers", () => {
  const live = variant(shipped, (d) => addGeneratedPolicies(d, 300));
  const cand = variant(live.dir, (d) => appendFileSync(path.join(d, "policies", "zz-candidate.cedar"), ADDED_FORBIDS));
  const a = createCedarEngine(live.loaded, { slot: "beside-gen-live" });
  const b = createCedarEngine(cand.loaded, { slot: "beside-gen-candidate" });
  const { unions } = assertBeside(a, b, inputsFor(a, live.loaded, 2000, 12));
  assert.ok(unions > 500, `only ${unions} requests went through a union`);
});

test("versions that send Cedar different requests (another entity file) do not share a call", () => {
  const live = variant(shipped);
  const cand = variant(shipped, (d) => {
    const f = path.join(d, "entities", "tools.json");
    writeFileSync(f, readFileSync(f, "utf8").replace(/"risk": 1\b/, '"risk": 2'));
  });
  assert.notEqual(live.loaded.version, cand.loaded.version);
  const a = createCedarEngine(live.loaded, { slot: "beside-base-live" });
  const b = createCedarEngine(cand.loaded, { slot: "beside-base-candidate" });
  const [input] = randomRequests(live.loaded, 1, 13);
  assert.equal(a.evaluateBeside!(b.parts!, input!), undefined);
});
