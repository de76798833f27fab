// Loading and validating policy directories: the shipped set, and every way a set is refused.
import assert from "node:assert/strict";
import { appendFileSync, cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { PdpError } from "../../src/errors.js";
import { loadPolicySet } from "../../src/policy/index.js";

const shipped = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../cedar");
const temps: string[] = [];
after(() => temps.forEach((d) => rmSync(d, { recursive: true, force: true })));

/** A copy of the shipped policy directory under os.tmpdir(), to break on purpose. */
function copyShipped(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), "mcp-pdp-policy-"));
  temps.push(dir);
  cpSync(shipped, dir, { recursive: true });
  return dir;
}

/** Line (1-based) at which `text` starts in a file. */
function lineOf(file: string, text: string): number {
  const content = readFileSync(file, "utf8");
  const at = content.indexOf(text);
  assert.ok(at >= 0, `${text} not in ${file}`);
  return content.slice(0, at).split("\n").length;
}

function refused(dir: string): string {
  try {
    loadPolicySet(dir);
  } catch (err) {
    assert.ok(err instanceof PdpError, `expected PdpError, got ${String(err)}`);
    assert.equal(err.code, "POLICY_INVALID");
    return err.message;
  }
  assert.fail("the policy set was accepted");
}

test("the shipped set loads, validates, and maps Cedar ids to @id/@reason", () => {
  const loaded = loadPolicySet(shipped);
  assert.match(loaded.version, /^[0-9a-f]{16}$/);
  assert.match(loaded.digest, /^[0-9a-f]{64}$/);
  assert.equal(loaded.digest.slice(0, 16), loaded.version);
  assert.deepEqual(loaded.warnings, []);
  assert.ok(loaded.policies.size >= 6);
  const ids = new Set<string>();
  for (const [cedarId, p] of loaded.policies) {
    assert.equal(p.cedarId, cedarId);
    assert.match(cedarId, /^policy\d+$/);
    assert.ok(p.id && p.reason, `${cedarId} lacks @id/@reason`);
    assert.ok(!ids.has(p.id));
    ids.add(p.id);
    assert.match(p.file, /^policies\/[a-z-]+\.cedar$/);
    const lines = readFileSync(path.join(shipped, p.file), "utf8").split("\n");
    assert.match(lines[p.line - 1] ?? "", new RegExp(`^@id\\("${p.id}"\\)`), `${p.id} is not at ${p.file}:${p.line}`);
  }
  assert.equal(loaded.policies.get("policy0")?.file, "policies/agent-attestation.cedar"); // files in sorted order
  assert.ok(loaded.entities.length > 0);
  assert.ok(loaded.files.includes("schema.cedarschema"));
});

test("the version is stable and changes with any file", () => {
  const dir = copyShipped();
  const a = loadPolicySet(dir).version;
  assert.equal(loadPolicySet(dir).version, a);
  assert.equal(loadPolicySet(shipped).version, a, "the version does not depend on the directory's location");
  appendFileSync(path.join(dir, "entities/tools.json"), "\n");
  assert.notEqual(loadPolicySet(dir).version, a);
});

test("a syntax error is refused with file, line and policy @id", () => {
  const dir = copyShipped();
  const file = path.join(dir, "policies/tool-allowlist.cedar");
  // A non-ASCII comment first: Cedar reports byte offsets, the line must still be right.
  appendFileSync(file, '\n// naïve — ünïcode\n@id("broken-policy")\n@reason("x")\npermit (principal, action, resource)\nwhen { 1 + };\n');
  const msg = refused(dir);
  const line = lineOf(file, "when { 1 + }");
  assert.match(msg, new RegExp(`policies/tool-allowlist\\.cedar:${line} \\[broken-policy\\] .*unexpected token`));
});

test("a schema violation (unknown attribute) is refused with file, line, @id, message and help", () => {
  const dir = copyShipped();
  const file = path.join(dir, "policies/production-writes.cedar");
  writeFileSync(file, readFileSync(file, "utf8").replace('resource.impact == "production_write"', 'resource.impakt == "production_write"'));
  const msg = refused(dir);
  const line = lineOf(file, "resource.impakt");
  assert.match(msg, new RegExp(`policies/production-writes\\.cedar:${line} \\[production-write-requires-approval\\] `));
  assert.match(msg, /attribute `impakt` on entity type `Tool` not found/);
  assert.match(msg, /help: did you mean `impact`\?/);
  assert.doesNotMatch(msg, /policy\d+/, "Cedar's internal ids are replaced by @id");
});

test("a policy without @id is refused with file and line", () => {
  const dir = copyShipped();
  const file = path.join(dir, "policies/sessions.cedar");
  appendFileSync(file, '\n@reason("anonymous")\npermit (principal, action == Action::"open_session", resource);\n');
  const msg = refused(dir);
  assert.match(msg, new RegExp(`policies/sessions\\.cedar:${lineOf(file, '@reason("anonymous")')} \\[no @id\\] .*@id`));
});

test("a policy without @reason is refused with file, line and @id", () => {
  const dir = copyShipped();
  const file = path.join(dir, "policies/sessions.cedar");
  appendFileSync(file, '\n@id("no-reason")\npermit (principal, action == Action::"open_session", resource);\n');
  assert.match(refused(dir), new RegExp(`policies/sessions\\.cedar:${lineOf(file, '@id("no-reason")')} \\[no-reason\\] .*@reason`));
});

test("a duplicate @id across files is refused naming both places", () => {
  const dir = copyShipped();
  const file = path.join(dir, "policies/zz-extra.cedar");
  writeFileSync(file, '// copy\n\n@id("tool-allowlist-research")\n@reason("again")\nforbid (principal, action, resource);\n');
  const msg = refused(dir);
  assert.match(msg, /policies\/zz-extra\.cedar:3 \[tool-allowlist-research\] duplicate @id/);
  assert.match(msg, /first at .*policies\/tool-allowlist\.cedar:\d+/);
});

test("a bad entity (wrong attribute type) is refused with file and line", () => {
  const dir = copyShipped();
  const file = path.join(dir, "entities/tools.json");
  writeFileSync(file, readFileSync(file, "utf8").replace('"risk": 9', '"risk": "high"'));
  const msg = refused(dir);
  assert.match(msg, new RegExp(`entities/tools\\.json:${lineOf(file, '"id": "https://docs.example.com/mcp#deploy_production"')} `));
  assert.match(msg, /deploy_production.*risk|risk.*deploy_production/);
});

test("an entity of an undeclared type, or with a malformed typed id, is refused", () => {
  const dir = copyShipped();
  const file = path.join(dir, "entities/servers.json");
  writeFileSync(file, readFileSync(file, "utf8").replace('"type": "Server"', '"type": "Serverr"'));
  assert.match(refused(dir), /entities\/servers\.json:\d+ .*Serverr/);

  const dir2 = copyShipped();
  const tools = path.join(dir2, "entities/tools.json");
  writeFileSync(tools, readFileSync(tools, "utf8").replace('"name": "send_message"', '"name": "send_mail"'));
  assert.match(refused(dir2), /entities\/tools\.json:\d+ Tool::"https:\/\/docs\.example\.com\/mcp#send_message": id must be "<server>#<name>"/);
});

test("invalid entity JSON is refused with file and line", () => {
  const dir = copyShipped();
  writeFileSync(path.join(dir, "entities/broken.json"), '[\n  { "uid": { "type": "Tool", "id": "x" } },,\n]\n');
  assert.match(refused(dir), /entities\/broken\.json:2 invalid JSON/);
});

test("a schema error is refused with the schema's file and line", () => {
  const dir = copyShipped();
  const file = path.join(dir, "schema.cedarschema");
  writeFileSync(file, readFileSync(file, "utf8").replace("trust_domain: String", "trust_domain: Strin"));
  assert.match(refused(dir), new RegExp(`schema\\.cedarschema:${lineOf(file, "trust_domain: Strin")} .*Strin`));
});

test("a directory without policies is refused", () => {
  const dir = copyShipped();
  rmSync(path.join(dir, "policies"), { recursive: true });
  assert.match(refused(dir), /policies/);
});

test("a file with 11 or more policies maps every Cedar id to its own @id and effect (text order)", async () => {
  const { createCedarEngine } = await import("../../src/policy/index.js");
  const dir = copyShipped();
  const many = Array.from({ length: 12 }, (_, i) =>
    i === 10
      ? `@id("many-10")\n@reason("the tenth forbids search")\nforbid (principal, action == Action::"call_tool", resource == Tool::"https://docs.example.com/mcp#search_documents");\n`
      : `@id("many-${i}")\n@reason("filler ${i}")\npermit (principal == Agent::"spiffe://nowhere/${i}", action, resource);\n`,
  ).join("\n");
  writeFileSync(path.join(dir, "policies/zz-many.cedar"), many);
  const loaded = loadPolicySet(dir);
  const infos = [...loaded.policies.values()].filter((p) => p.file === "policies/zz-many.cedar");
  assert.deepEqual(infos.map((p) => p.id), Array.from({ length: 12 }, (_, i) => `many-${i}`));
  assert.equal(infos[10]?.effect, "forbid");
  const engine = createCedarEngine(loaded, { slot: "load-test-many", partition: false });
  const d = engine.evaluate({
    agent: { id: "spiffe://dev.mcp-pdp.local/agent/research-assistant", trustDomain: "dev.mcp-pdp.local" },
    user: { issuer: "https://dev-issuer.mcp-pdp.invalid", subject: "alice", scopes: [] },
    clientId: "dev-client",
    serverId: "https://docs.example.com/mcp",
    idp: "https://dev-issuer.mcp-pdp.invalid",
    action: "call_tool",
    tool: "search_documents",
    purpose: "research",
  });
  assert.deepEqual(d.reasons.map((r) => r.policyId), ["many-10"]);
});
