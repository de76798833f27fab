/**
 * Replayable records and `policy replay`'s core, through the transport-neutral decision core with
 * real parts (a copied cedar/, the development issuer, memory stores): the record keeps the facts
 * policy saw (no token, no withheld argument value); the control replay under each record's own
 * version reproduces every recorded decision and reason; a candidate that forbids one tool flips
 * exactly the recorded ALLOWs of that tool; an identical candidate flips nothing.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { DecisionRecord } from "../../src/audit/decision-record.js";
import { ReplayTally } from "../../src/decision/replay-tally.js";
import { replayVersionOfDir } from "../../src/policy/replay-engine.js";
import path from "node:path";
import { sameEvaluation } from "../../src/decision/replay-outcome.js";
import { inputOfFacts } from "../../src/policy/replay-facts.js";
import { copyCedar, editJson } from "../support/pdp.js";
import { rig } from "../decision/support/core-rig.js";
import { DOCS, forbidding, recordAllArguments, traffic, WORKSPACE } from "./support/traffic.js";

const authorizeRecords = (records: readonly DecisionRecord[]) => records.filter((x) => x.kind === "authorize");

test("records keep the facts policy saw; the control replay reproduces every decision and reason; identical candidate flips nothing", { timeout: 120_000 }, async () => {
  const dir = copyCedar(recordAllArguments);
  const r = await rig(dir);
  try {
    const tokens = await traffic(r);
    const records = authorizeRecords(r.records);
    const policyDecided = records.filter((x) => x.replay !== undefined);
    assert.ok(policyDecided.length >= 10, `policy decided ${policyDecided.length}`);
    const codes = new Set(policyDecided.map((x) => x.reasonCode));
    assert.ok(policyDecided.some((x) => x.replay?.approvalUsed), "an approval was used");
    assert.ok(policyDecided.some((x) => x.reasons.some((p) => p.policyId === "chain-sensitive-then-egress")), "the chain rule decided one");
    for (const code of ["ALLOWED", "POLICY_DENIED", "APPROVAL_REQUIRED"]) assert.ok(codes.has(code), `traffic covers ${code}: ${[...codes]}`);
    // Never a token in a record.
    for (const t of [tokens.userToken, tokens.workloadToken]) assert.ok(!JSON.stringify(r.records).includes(t), "no token in any record");
    // Refused before policy: no facts.
    assert.equal(records.find((x) => x.reasonCode === "TOOL_NOT_GRANTED")?.replay, undefined);

    const control = replayVersionOfDir(dir);
    assert.equal(control.loaded.version, r.policies.current().version);
    const tally = new ReplayTally({ candidate: control.engine, control: (v) => (v === control.loaded.version ? control.engine : undefined) });
    for (const x of records) tally.add(x);
    const report = tally.report();
    assert.equal(report.control.checked, policyDecided.length);
    assert.equal(report.control.reproduced, policyDecided.length, `drift: ${JSON.stringify(report.control.driftSamples)}`);
    assert.equal(report.control.drift, 0);
    assert.equal(report.flips.allowToDeny + report.flips.denyToAllow, 0, "an identical candidate flips nothing");
    assert.equal(report.reasonChanged, 0);
    assert.equal(report.notPolicy, records.length - policyDecided.length);
    assert.deepEqual(report.notReplayable, {});
  } finally {
    await r.close();
  }
});

test("a candidate that forbids a tool flips exactly the recorded ALLOWs of that tool, grouped under its policy", { timeout: 120_000 }, async () => {
  const dir = copyCedar(recordAllArguments);
  const r = await rig(dir);
  try {
    await traffic(r);
    const records = authorizeRecords(r.records);
    const live = replayVersionOfDir(dir);
    for (const [server, tool] of [
      [DOCS, "search_documents"],
      [WORKSPACE, "send_payment"],
    ] as const) {
      const candidate = replayVersionOfDir(forbidding(recordAllArguments, server, tool));
      const tally = new ReplayTally({ candidate: candidate.engine, control: (v) => (v === live.loaded.version ? live.engine : undefined) }, { samples: 100 });
      for (const x of records) tally.add(x);
      const report = tally.report();
      const expected = records.filter((x) => x.tool === tool && x.decision === "ALLOW" && x.replay).map((x) => x.decisionId);
      assert.ok(expected.length > 0, `traffic has ALLOWs of ${tool}`);
      assert.equal(report.flips.allowToDeny, expected.length, `${tool}: ${JSON.stringify(report.flips)}`);
      assert.equal(report.flips.denyToAllow, 0);
      // Grouped by what decided under the candidate: its forbid (with, for the approved payment, the approval rule beside it).
      for (const g of report.flips.groups) {
        assert.deepEqual([g.from, g.to, g.reasonCode], ["ALLOW", "DENY", "POLICY_DENIED"]);
        assert.ok(g.policies.includes(`candidate-forbids-${tool}`), JSON.stringify(g));
      }
      assert.deepEqual(report.flips.groups.flatMap((g) => g.samples).sort(), [...expected].sort());
      assert.equal(report.control.drift, 0);
      // Without the control sample, only the records the candidate can change are evaluated — the same flips.
      const quick = new ReplayTally({ candidate: candidate.engine, control: (v) => (v === live.loaded.version ? live.engine : undefined) }, { samples: 100, controlSample: 0 });
      for (const x of records) quick.add(x);
      const q = quick.report();
      assert.deepEqual(q.flips, report.flips);
      assert.ok(q.unchanged > 0 && q.replayed + q.unchanged === report.replayed, JSON.stringify([q.replayed, q.unchanged, report.replayed]));
      assert.equal(q.replayed, records.filter((x) => x.tool === tool && x.replay && !x.replay.withheld).length, "only the calls of the forbidden tool are evaluated");
    }
  } finally {
    await r.close();
  }
});

test("argument values a definition does not let records keep are withheld; such records are reported not replayable, never guessed", { timeout: 120_000 }, async () => {
  const dir = copyCedar();
  const r = await rig(dir);
  try {
    await traffic(r);
    const records = authorizeRecords(r.records);
    const readFile = records.find((x) => x.tool === "read_file" && x.decision === "ALLOW")!;
    assert.deepEqual(readFile.replay?.withheld, ["path"]);
    assert.ok(!JSON.stringify(readFile).includes("/projects/alpha/plan.md"), "the path is not in the record");
    const payment = records.find((x) => x.tool === "send_payment")!;
    assert.ok(!JSON.stringify(payment).includes("ACME"), "the payee is not in the record");
    const live = replayVersionOfDir(dir);
    const tally = new ReplayTally({ candidate: live.engine, control: () => live.engine });
    for (const x of records) tally.add(x);
    // An older record: the same decision without facts.
    const { replay: _, ...old } = records.find((x) => x.tool === "search_documents" && x.decision === "ALLOW")!;
    tally.add(old as DecisionRecord);
    const report = tally.report();
    const withheld = records.filter((x) => x.replay?.withheld).length;
    assert.ok(withheld >= 5, `withheld: ${withheld}`);
    const reasons = Object.entries(report.notReplayable);
    assert.equal(reasons.reduce((n, [, c]) => n + c, 0), withheld + 1);
    assert.ok(reasons.some(([why]) => /argument values not recorded: path/.test(why)), JSON.stringify(reasons));
    assert.ok(reasons.some(([why]) => /no replay facts/.test(why)), JSON.stringify(reasons));
    assert.equal(report.control.drift, 0);
  } finally {
    await r.close();
  }
});

test("evaluation keys: the same where the policies that can apply (and all else evaluation reads) are the same, different where a change can matter", { timeout: 120_000 }, async () => {
  const dir = copyCedar(recordAllArguments);
  const r = await rig(dir);
  try {
    await traffic(r);
    const facts = authorizeRecords(r.records).filter((x) => x.replay && !x.replay.withheld);
    const live = replayVersionOfDir(dir).engine;
    const copy = replayVersionOfDir(copyCedar(recordAllArguments)).engine;
    const forbids = replayVersionOfDir(forbidding(recordAllArguments, DOCS, "search_documents")).engine;
    const entities = replayVersionOfDir(
      copyCedar((d) => {
        recordAllArguments(d);
        editJson(path.join(d, "entities", "tools.json"), (e: any[]) => void (e.find((x) => x.uid.id === `${WORKSPACE}#send_mail`).attrs.risk = 9));
      }),
    ).engine;
    for (const x of facts) {
      const input = inputOfFacts(x.replay!);
      const k = live.evaluationKey!(input);
      assert.ok(k);
      assert.equal(copy.evaluationKey!(input), k, "an identical set: the same key");
      assert.equal(sameEvaluation(live, forbids, input), x.tool !== "search_documents", `${x.tool}: a forbid of search_documents matters only to its calls`);
      assert.notEqual(entities.evaluationKey!(input), k, "another entity file: every key changes");
    }
  } finally {
    await r.close();
  }
});
