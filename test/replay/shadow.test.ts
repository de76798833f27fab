/**
 * Shadow evaluation (`policies.shadowDir`) through the transport-neutral core with real parts: the
 * candidate set is evaluated beside the live one on every policy decision; the answer never
 * changes; a disagreement is in the record (`shadow`) and in the metrics; `--shadow-disagrees`
 * finds those records. A shadow set that fails validation is refused like a live one (logged,
 * counted, in status) and never affects an answer; emptying the directory turns shadow off —
 * reloads, never a restart.
 */
import assert from "node:assert/strict";
import { cpSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { pino } from "pino";
import { MemoryAuditSink } from "../../src/audit/memory-audit-sink.js";
import { createShadowPolicy } from "../../src/policy/shadow-policy.js";
import { createPdpMetrics } from "../../src/telemetry/pdp-metrics.js";
import { rig } from "../decision/support/core-rig.js";
import { copyCedar } from "../support/pdp.js";
import { DOCS, forbidding, recordAllArguments, traffic, WORKSPACE } from "./support/traffic.js";

const silent = pino({ level: "silent" });

function fill(shadowDir: string, from: string): void {
  for (const f of readdirSync(shadowDir)) rmSync(path.join(shadowDir, f), { recursive: true, force: true });
  cpSync(from, shadowDir, { recursive: true });
}

function metricValue(text: string, line: RegExp): number {
  const m = text.split("\n").find((l) => line.test(l));
  return m === undefined ? 0 : Number(m.slice(m.lastIndexOf(" ") + 1));
}

test("shadow: disagreements are recorded and counted, answers never change", { timeout: 120_000 }, async () => {
  const dir = copyCedar(recordAllArguments);
  const shadowDir = mkdtempSync(path.join(tmpdir(), "mcp-pdp-shadow-"));
  fill(shadowDir, forbidding(recordAllArguments, DOCS, "search_documents"));
  const shadow = createShadowPolicy({ dir: shadowDir, logger: silent });
  assert.equal(shadow.status().on, true, shadow.status().lastError);
  const metrics = createPdpMetrics({ shadow });
  const withShadow = await rig(dir, 64, { shadow: () => shadow.current(), observer: metrics });
  const without = await rig(dir);
  try {
    await traffic(withShadow);
    await traffic(without);
    const a = withShadow.records.filter((x) => x.kind === "authorize");
    const b = without.records.filter((x) => x.kind === "authorize");
    // The same answers with and without the shadow set.
    assert.deepEqual(a.map((x) => [x.tool, x.decision, x.reasonCode]), b.map((x) => [x.tool, x.decision, x.reasonCode]));
    const searches = a.filter((x) => x.tool === "search_documents" && x.decision === "ALLOW" && x.replay);
    assert.ok(searches.length > 0);
    for (const x of a) {
      if (searches.includes(x)) assert.deepEqual(x.shadow, { decision: "DENY", reasonCode: "POLICY_DENIED", policies: ["candidate-forbids-search_documents"], version: shadow.status().version });
      else assert.equal(x.shadow, undefined, `${x.tool} ${x.reasonCode}: the shadow set agrees`);
    }
    const policyDecided = a.filter((x) => x.replay && !x.replay.withheld).length;
    const text = await metrics.registry.metrics();
    assert.equal(metricValue(text, /^mcp_pdp_shadow_evaluations_total\{kind="authorize",result="disagree"\}/), searches.length, text);
    assert.equal(metricValue(text, /^mcp_pdp_shadow_evaluations_total\{kind="authorize",result="agree"\}/), policyDecided - searches.length);
    assert.equal(metricValue(text, /^mcp_pdp_shadow_flips_total\{direction="allow_to_deny"\}/), searches.length);
    assert.equal(metricValue(text, /^mcp_pdp_shadow_on /), 1);
    assert.match(text, new RegExp(`mcp_pdp_shadow_info\\{version="${shadow.status().version}"\\} 1`));

    // `audit query --shadow-disagrees`: exactly those records.
    const sink = new MemoryAuditSink({ capacity: 1000 });
    await sink.write(withShadow.records);
    const page = await sink.reader!.query({ shadowDisagrees: true }, { limit: 1000 });
    assert.deepEqual(page.records.map((r) => r.record.decisionId).sort(), searches.map((x) => x.decisionId).sort());
  } finally {
    shadow.close();
    await withShadow.close();
    await without.close();
  }
});

test("shadow: an invalid set is refused like a live one and never affects answers; emptying the directory turns shadow off", { timeout: 120_000 }, async () => {
  const dir = copyCedar(recordAllArguments);
  const shadowDir = mkdtempSync(path.join(tmpdir(), "mcp-pdp-shadow-"));
  const invalid = copyCedar((d) => writeFileSync(path.join(d, "policies", "zz-bad.cedar"), '@id("bad")\n@reason("r")\nforbid (principal, action, resource) when { context.no_such_field };\n'));
  fill(shadowDir, invalid);
  const shadow = createShadowPolicy({ dir: shadowDir, logger: silent });
  const s0 = shadow.status();
  assert.equal(s0.on, false, "refused at start: shadow stays off");
  assert.equal(s0.refusals, 1);
  assert.match(s0.lastError ?? "", /zz-bad\.cedar.*\[bad\]/);
  const r = await rig(dir, 64, { shadow: () => shadow.current() });
  const plain = await rig(dir);
  try {
    await traffic(r);
    await traffic(plain);
    assert.ok(r.records.every((x) => x.shadow === undefined), "no shadow verdicts from a refused set");
    assert.deepEqual(r.records.map((x) => [x.kind, x.decision, x.reasonCode]), plain.records.map((x) => [x.kind, x.decision, x.reasonCode]));

    // A valid set: on. Then an invalid change: refused, the valid one stays. Then empty: off.
    fill(shadowDir, forbidding(recordAllArguments, DOCS, "search_documents"));
    const on = shadow.reload("test");
    assert.equal(on.ok && on.on, true, JSON.stringify(on));
    const version = shadow.status().version;
    fill(shadowDir, invalid);
    const refused = shadow.reload("test");
    assert.equal(refused.ok, false);
    assert.equal(shadow.status().version, version, "the shadow set in force stays");
    assert.equal(shadow.status().refusals, 2);
    const before = r.records.length;
    await traffic(r);
    const later = r.records.slice(before).filter((x) => x.shadow);
    assert.ok(later.length > 0 && later.every((x) => x.shadow!.version === version), "decisions keep being shadowed by the last good set");
    for (const f of readdirSync(shadowDir)) rmSync(path.join(shadowDir, f), { recursive: true, force: true });
    const off = shadow.reload("test");
    assert.deepEqual(off, { ok: true, on: false, changed: true });
    assert.equal(shadow.current(), undefined);
  } finally {
    shadow.close();
    await r.close();
    await plain.close();
  }
});

test("shadow evaluates the live input itself: calls whose argument values records withhold are shadowed too, on their values", { timeout: 120_000 }, async () => {
  // The shipped definitions withhold read_file's path from records; the candidate forbids reading project alpha by that path.
  const dir = copyCedar();
  const shadowDir = mkdtempSync(path.join(tmpdir(), "mcp-pdp-shadow-"));
  fill(
    shadowDir,
    copyCedar((d) =>
      writeFileSync(
        path.join(d, "policies", "zz-candidate.cedar"),
        `@id("candidate-no-alpha")\n@reason("project alpha is closed")\nforbid (principal, action == Action::"call_tool", resource == Tool::"${WORKSPACE}#read_file") when {\n  context.args has read_file && context.args.read_file.path like "/projects/alpha/*"\n};\n`,
      ),
    ),
  );
  const shadow = createShadowPolicy({ dir: shadowDir, logger: silent });
  assert.equal(shadow.status().on, true, shadow.status().lastError);
  const r = await rig(dir, 64, { shadow: () => shadow.current() });
  try {
    await traffic(r);
    const reads = r.records.filter((x) => x.kind === "authorize" && x.tool === "read_file");
    assert.equal(reads.length, 2);
    for (const x of reads) assert.deepEqual(x.replay?.withheld, ["path"], "the path value is not in the record");
    const [alpha, etc] = reads;
    assert.equal(alpha!.decision, "ALLOW");
    assert.deepEqual(alpha!.shadow, { decision: "DENY", reasonCode: "POLICY_DENIED", policies: ["candidate-no-alpha"], version: shadow.status().version });
    assert.equal(etc!.shadow, undefined, "/etc/shadow is denied by both sets");
  } finally {
    shadow.close();
    await r.close();
  }
});
