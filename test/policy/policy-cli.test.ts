// `mcp-pdp policy validate|test`, run as the real CLI in a child process.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { appendFileSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const shipped = path.join(root, "cedar");
const temps: string[] = [];
after(() => temps.forEach((d) => rmSync(d, { recursive: true, force: true })));

function copyShipped(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), "mcp-pdp-cli-"));
  temps.push(dir);
  cpSync(shipped, dir, { recursive: true });
  return dir;
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(...args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, ["--import", "tsx", "src/cli/main.ts", "policy", ...args], { cwd: root }, (err, stdout, stderr) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout, stderr }),
    );
  });
}

test("validate: the bundled set is valid, in one line", async () => {
  const r = await cli("validate");
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^✓ cedar: valid — version [0-9a-f]{16}, \d+ policies in \d+ files, \d+ entities\n$/);
});

test("validate: a syntax error is exit 1 with file:line and policy id", async () => {
  const dir = copyShipped();
  appendFileSync(path.join(dir, "policies/tool-allowlist.cedar"), '\n@id("half-written")\n@reason("x")\npermit (principal, action, resource) when { context.purpose == };\n');
  const r = await cli("validate", dir);
  assert.equal(r.code, 1);
  assert.equal(r.stdout, "");
  assert.match(r.stderr, /^✗ .*: invalid — 1 problem\n/);
  assert.match(r.stderr, /\n {2}.*policies\/tool-allowlist\.cedar:\d+ \[half-written\] /);
});

test("validate: an unknown attribute is exit 1 with Cedar's help", async () => {
  const dir = copyShipped();
  writeFileSync(path.join(dir, "policies/zz-typo.cedar"), '@id("typo")\n@reason("x")\nforbid (principal, action == Action::"call_tool", resource)\nwhen { resource.riks > 3 };\n');
  const r = await cli("validate", dir);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /policies\/zz-typo\.cedar:4 \[typo\] .*`riks`.* — help: did you mean `risk`\?/);
});

test("validate: a missing directory, an entity error; usage errors are exit 2", async () => {
  const missing = await cli("validate", path.join(os.tmpdir(), "mcp-pdp-no-such-dir"));
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /schema\.cedarschema: cannot read \(ENOENT\)/);
  const dir = copyShipped();
  const tools = path.join(dir, "entities/tools.json");
  writeFileSync(tools, readFileSync(tools, "utf8").replace('"impact": "write"', '"impact": 3'));
  const bad = await cli("validate", dir);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /entities\/tools\.json:\d+ .*partner_order/);
  assert.equal((await cli()).code, 2);
  assert.equal((await cli("frobnicate")).code, 2);
  assert.equal((await cli("test", "--json", "--junit", "x.xml")).code, 2);
  assert.equal((await cli("validate", "a", "b")).code, 2);
});

test("test: the shipped library passes its own cases, one ✓ line each and a summary", async () => {
  const r = await cli("test");
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const lines = r.stdout.trimEnd().split("\n");
  assert.match(lines[0] ?? "", /^cedar \(version [0-9a-f]{16}\): (\d+) cases$/);
  const n = Number(/: (\d+) cases$/.exec(lines[0] ?? "")?.[1]);
  assert.ok(n >= 40, `only ${n} cases`);
  const caseLines = lines.slice(1, -1);
  assert.equal(caseLines.length, n);
  for (const l of caseLines) assert.match(l, /^✓ [a-z-]+\.json › [a-z0-9-]+$/);
  assert.equal(lines.at(-1), `${n} cases: ${n} passed, 0 failed`);
  // Every policy file has its own case file.
  for (const f of ["sessions", "session-ttl", "tool-allowlist", "purpose-binding", "idp-trust", "production-writes", "brokering", "chain-rule", "session-budget"]) {
    assert.ok(caseLines.some((l) => l.includes(` ${f}.json › `)), `no cases for ${f}`);
  }
});

test("test: a broken rule makes its cases fail, exit 1, with what differed", async () => {
  // Weaken the chain rule as a careless edit would: it now looks for the wrong label.
  const dir = copyShipped();
  const file = path.join(dir, "policies/chain-rule.cedar");
  writeFileSync(file, readFileSync(file, "utf8").replace('labels.contains("sensitive")', 'labels.contains("secret")'));
  const r = await cli("test", dir);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /^✗ chain-rule\.json › egress-after-sensitive-read\n {4}decision: expected deny, got allow\n {4}outcome: expected forbid, got permit\n {4}reasons: expected \[chain-sensitive-then-egress\], got \[tool-allowlist-messaging\]$/m);
  assert.match(r.stdout, /^✓ chain-rule\.json › egress-after-harmless-reads$/m);
  assert.match(r.stdout, /\n\d+ cases: \d+ passed, 3 failed\n$/);
});

test("test --json: a machine-readable report", async () => {
  const dir = copyShipped();
  const cases = path.join(dir, "tests/production-writes.json");
  writeFileSync(cases, readFileSync(cases, "utf8").replace('"decision": "deny"', '"decision": "allow"'));
  const r = await cli("test", dir, "--json");
  assert.equal(r.code, 1);
  const report = JSON.parse(r.stdout);
  assert.equal(report.valid, true);
  assert.match(report.version, /^[0-9a-f]{16}$/);
  assert.equal(report.failed, 1);
  assert.equal(report.passed + report.failed, report.total);
  const bad = report.cases.find((c: { passed: boolean }) => !c.passed);
  assert.equal(bad.file, "production-writes.json");
  assert.equal(bad.name, "needs-approval");
  assert.deepEqual(bad.actual, { decision: "deny", outcome: "forbid", reasons: ["production-write-requires-approval"] });
  assert.deepEqual(bad.mismatches, ["decision: expected allow, got deny"]);

  const invalid = copyShipped();
  appendFileSync(path.join(invalid, "policies/tool-allowlist.cedar"), "\npermit (principal, action, resource);\n");
  const j = await cli("test", invalid, "--json");
  assert.equal(j.code, 1);
  const v = JSON.parse(j.stdout);
  assert.equal(v.valid, false);
  assert.match(v.problems.join("\n"), /tool-allowlist\.cedar:\d+ \[no @id\] every policy needs an @id/);
});

test("test --junit FILE: JUnit XML beside the human report", async () => {
  const dir = copyShipped();
  const cases = path.join(dir, "tests/session-budget.json");
  writeFileSync(cases, readFileSync(cases, "utf8").replace('"callCount": 50', '"callCount": 5'));
  const out = path.join(dir, "junit.xml");
  const r = await cli("test", dir, "--junit", out);
  assert.equal(r.code, 1);
  assert.match(r.stdout, /^✗ session-budget\.json › call-51$/m);
  const xml = readFileSync(out, "utf8");
  assert.match(xml, /^<\?xml version="1\.0" encoding="UTF-8"\?>\n<testsuites name="mcp-pdp policy test" tests="(\d+)" failures="1">/);
  assert.match(xml, /<testsuite name="session-budget\.json" tests="4" failures="1">/);
  assert.match(xml, /<testcase classname="session-budget\.json" name="call-51">\n\s+<failure message="decision: expected deny, got allow">/);
  assert.match(xml, /<testcase classname="chain-rule\.json" name="egress-after-sensitive-read"\/>/);
});

test("test: malformed case files and a missing tests/ directory are exit 1", async () => {
  const dir = copyShipped();
  writeFileSync(path.join(dir, "tests/zz-bad.json"), '{ "cases": [ { "name": "x", "request": { "agent": 3 } } ] }');
  const r = await cli("test", dir);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /zz-bad\.json: case "x": "agent" must be a SPIFFE ID/);
  const none = copyShipped();
  rmSync(path.join(none, "tests"), { recursive: true });
  const n = await cli("test", none);
  assert.equal(n.code, 1);
  assert.match(n.stderr, /no .*tests directory/);
});
