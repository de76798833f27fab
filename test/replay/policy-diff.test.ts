/**
 * `mcp-pdp policy diff A B` as a user runs it: policies added, removed and changed by `@id` with
 * the text of each change, other files compared file by file; a set that does not load is refused.
 */
import assert from "node:assert/strict";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import type { PolicyDiff } from "../../src/policy/policy-diff.js";
import { assertBuilt, cli } from "../cli/run-cli.js";
import { copyCedar, editJson } from "../support/pdp.js";

test("policy diff: added, removed, changed (with the changed lines), moved and other files; identical sets differ in nothing", { timeout: 120_000 }, async () => {
  assertBuilt();
  const a = copyCedar();
  const b = copyCedar((d) => {
    const purpose = path.join(d, "policies", "purpose-binding.cedar");
    writeFileSync(purpose, readFileSync(purpose, "utf8").replace('unless { context.purpose == "research" };', 'unless { ["research", "review"].contains(context.purpose) };'));
    writeFileSync(path.join(d, "policies", "zz-new.cedar"), '@id("forbid-echo")\n@reason("echo is withdrawn")\nforbid (principal, action == Action::"call_tool", resource == Tool::"http://127.0.0.1:8080/mcp#echo");\n');
    rmSync(path.join(d, "policies", "gateway-demo.cedar"));
    editJson(path.join(d, "entities", "tools.json"), (e: any[]) => {
      e.find((x) => x.uid.id === "https://docs.example.com/mcp#search_documents").attrs.risk = 7;
    });
  });
  const json = await cli(["policy", "diff", a, b, "--json"]);
  assert.equal(json.code, 0, json.err + json.out);
  const d = JSON.parse(json.out) as PolicyDiff;
  assert.deepEqual(d.added.map((p) => p.id), ["forbid-echo"]);
  assert.ok(d.removed.length >= 1 && d.removed.every((p) => p.file === "policies/gateway-demo.cedar"), JSON.stringify(d.removed.map((p) => p.id)));
  assert.ok(d.changed.length >= 1);
  for (const c of d.changed) {
    assert.equal(c.after.file, "policies/purpose-binding.cedar");
    assert.match(c.patch, /^-unless \{ context\.purpose == "research" \};$/m);
    assert.match(c.patch, /^\+unless \{ \["research", "review"\]\.contains\(context\.purpose\) \};$/m);
  }
  assert.deepEqual(d.files.map((f) => [f.path, f.change]), [["entities/tools.json", "changed"]]);
  assert.match(d.files[0]!.patch ?? "", /^\+\s+"risk": 7,$/m);

  const text = await cli(["policy", "diff", a, b]);
  assert.equal(text.code, 0, text.err);
  assert.match(text.out, /^1 added, \d+ removed, \d+ changed, 0 moved; 1 other file\(s\) differ$/m);
  assert.match(text.out, /^\+ added   forbid-echo  \(policies\/zz-new\.cedar:1\)$/m);
  assert.match(text.out, /^~ changed purpose-research-tools /m);

  const same = await cli(["policy", "diff", a, copyCedar(), "--json"]);
  const s = JSON.parse(same.out) as PolicyDiff;
  assert.deepEqual([s.added.length, s.removed.length, s.changed.length, s.moved.length, s.files.length], [0, 0, 0, 0, 0]);

  const broken = copyCedar((d) => writeFileSync(path.join(d, "policies", "bad.cedar"), "permit (principal, action, resource) when { nope };\n"));
  const refused = await cli(["policy", "diff", a, broken]);
  assert.equal(refused.code, 1);
  assert.match(refused.err, /invalid/);
});
