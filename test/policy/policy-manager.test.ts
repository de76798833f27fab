// Hot reload: whole versions only, refusals that keep the old version, watch and reload().
import assert from "node:assert/strict";
import { appendFileSync, cpSync, mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, test } from "node:test";
import { fileURLToPath } from "node:url";
import { setTimeout as sleep } from "node:timers/promises";
import { PdpError } from "../../src/errors.js";
import { createPolicyManager, loadPolicySet } from "../../src/policy/index.js";
import type { DecisionInput, PolicyManager } from "../../src/policy/index.js";

const shipped = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../cedar");
const temps: string[] = [];
const managers: PolicyManager[] = [];
after(() => {
  managers.forEach((m) => m.close());
  temps.forEach((d) => rmSync(d, { recursive: true, force: true }));
});

function copyShipped(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), "mcp-pdp-manager-"));
  temps.push(dir);
  cpSync(shipped, dir, { recursive: true });
  return dir;
}

/** A logger that keeps what it was given. */
function memoryLogger() {
  const lines: { level: string; obj: unknown; msg: string }[] = [];
  const at = (level: string) => (obj: unknown, msg?: string) => void lines.push({ level, obj, msg: msg ?? "" });
  return { lines, logger: { info: at("info"), warn: at("warn"), error: at("error") } as never };
}

function manager(dir: string, extra: { watch?: boolean; quietMs?: number } = {}) {
  const { lines, logger } = memoryLogger();
  const m = createPolicyManager({ dir, logger, ...extra });
  managers.push(m);
  return { m, lines };
}

const search: DecisionInput = {
  agent: { id: "spiffe://dev.mcp-pdp.local/agent/research-assistant", trustDomain: "dev.mcp-pdp.local" },
  user: { issuer: "https://dev-issuer.mcp-pdp.invalid", subject: "alice", scopes: ["docs.read"] },
  clientId: "dev-client",
  serverId: "https://docs.example.com/mcp",
  idp: "https://dev-issuer.mcp-pdp.invalid",
  action: "call_tool",
  tool: "search_documents",
  purpose: "research",
};

const FLIP = `@id("flip-no-search")
@reason("searching is switched off in this version")
forbid (principal, action == Action::"call_tool", resource == Tool::"https://docs.example.com/mcp#search_documents");
`;

async function until(what: string, cond: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

test("an invalid initial set throws POLICY_INVALID (the service refuses to start)", () => {
  const dir = copyShipped();
  appendFileSync(path.join(dir, "policies/tool-allowlist.cedar"), '\n@id("x")\n@reason("x")\npermit (principal, action, resource) when { 1 + };\n');
  assert.throws(
    () => createPolicyManager({ dir, logger: memoryLogger().logger }),
    (e: unknown) => e instanceof PdpError && e.code === "POLICY_INVALID" && /tool-allowlist\.cedar:\d+ \[x\]/.test(e.message),
  );
});

test("reload under load: thousands of decisions while the set flips; each decision is one whole version", async () => {
  const dir = copyShipped();
  const { m } = manager(dir);
  const flipFile = path.join(dir, "policies/zz-flip.cedar");
  const vAllow = m.current().version;
  writeFileSync(flipFile, FLIP);
  const vDeny = loadPolicySet(dir).version;
  unlinkSync(flipFile);
  assert.notEqual(vAllow, vDeny);
  const expected = new Map([
    [vAllow, "allow"],
    [vDeny, "deny"],
  ]);

  const seen: { version: string; decision: string; reasons: string[]; errors: readonly string[] }[] = [];
  let flips = 0;
  let stop = false;
  const decide = async () => {
    while (!stop) {
      for (let i = 0; i < 25; i++) {
        const d = m.current().evaluate(search);
        seen.push({ version: d.version, decision: d.decision, reasons: d.reasons.map((r) => r.policyId), errors: d.errors });
      }
      await new Promise((r) => setImmediate(r));
    }
  };
  const flip = async () => {
    for (; flips < 40; flips++) {
      if (flips % 2 === 0) writeFileSync(flipFile, FLIP);
      else unlinkSync(flipFile);
      const r = m.reload("test");
      assert.ok(r.ok && r.changed, JSON.stringify(r));
      for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
    }
    stop = true;
  };
  await Promise.all([decide(), flip()]);

  assert.ok(seen.length >= 2000, `only ${seen.length} decisions`);
  const counts = new Map<string, number>();
  for (const d of seen) {
    assert.deepEqual(d.errors, []);
    assert.equal(d.decision, expected.get(d.version), `decision ${d.decision} under version ${d.version}`);
    assert.deepEqual(d.reasons, d.decision === "allow" ? ["tool-allowlist-research"] : ["flip-no-search"]);
    counts.set(d.version, (counts.get(d.version) ?? 0) + 1);
  }
  assert.ok((counts.get(vAllow) ?? 0) > 100 && (counts.get(vDeny) ?? 0) > 100, JSON.stringify([...counts]));
  assert.deepEqual(m.metrics(), { reloads: 40, refusals: 0, unchanged: 0 });
  assert.equal(m.current().version, vAllow); // 40 flips: back where it started
});

const BROKEN: [string, (dir: string) => void, RegExp][] = [
  [
    "a syntax error",
    (dir) => appendFileSync(path.join(dir, "policies/tool-allowlist.cedar"), '\n@id("half-written")\n@reason("x")\npermit (principal, action, resource) when { context.purpose == };\n'),
    /policies\/tool-allowlist\.cedar:\d+ \[half-written\]/,
  ],
  [
    "a schema violation (wrong type)",
    (dir) => appendFileSync(path.join(dir, "policies/zz-bad.cedar"), '@id("risk-as-text")\n@reason("x")\nforbid (principal, action == Action::"call_tool", resource) when { resource.risk == "high" };\n'),
    /policies\/zz-bad\.cedar:\d+ \[risk-as-text\]/,
  ],
  [
    "an unknown attribute",
    (dir) => appendFileSync(path.join(dir, "policies/zz-bad.cedar"), '@id("typo")\n@reason("x")\nforbid (principal, action == Action::"call_tool", resource) when { resource.riks > 3 };\n'),
    /policies\/zz-bad\.cedar:\d+ \[typo\] .*riks.* — help: did you mean `risk`\?/,
  ],
  [
    "an entity that breaks the schema",
    (dir) => {
      const f = path.join(dir, "entities/tools.json");
      writeFileSync(f, readFileSync(f, "utf8").replace('"risk": 9', '"risk": "nine"'));
    },
    /entities\/tools\.json:\d+ /,
  ],
];

for (const [what, breakIt, diagnostic] of BROKEN) {
  test(`reload() refuses ${what}: the old version still decides, status shows why; fixed, it loads`, () => {
    const dir = copyShipped();
    const { m, lines } = manager(dir);
    const good = m.current().version;
    const engineBefore = m.current();
    const backup = path.join(dir, "..", `${path.basename(dir)}-backup`);
    cpSync(dir, backup, { recursive: true });
    temps.push(backup);

    breakIt(dir);
    const r = m.reload("SIGHUP");
    assert.equal(r.ok, false);
    assert.ok(!r.ok);
    assert.match(r.error, diagnostic);
    assert.equal(r.version, good);
    assert.match(r.refusedVersion ?? "", /^[0-9a-f]{16}$/);
    assert.notEqual(r.refusedVersion, good);

    // The old version is in force and decides as before.
    assert.equal(m.current(), engineBefore);
    const d = m.current().evaluate(search);
    assert.equal(d.decision, "allow");
    assert.equal(d.version, good);

    const s = m.status();
    assert.equal(s.version, good);
    assert.equal(s.refusing, true);
    assert.match(s.lastError ?? "", diagnostic);
    assert.ok(s.lastErrorAt instanceof Date);
    assert.equal(s.refusedVersion, r.refusedVersion);
    assert.equal(s.refusals, 1);
    assert.deepEqual(m.current().status(), s, "the engine's status is the manager's");
    const logged = lines.find((l) => l.level === "error");
    assert.ok(logged, "the refusal is logged");
    assert.match(logged.msg, diagnostic);
    assert.match(logged.msg, /SIGHUP/);

    // Fixed (here: a real change on top of the good set), it loads.
    rmSync(dir, { recursive: true });
    cpSync(backup, dir, { recursive: true });
    writeFileSync(path.join(dir, "policies/zz-flip.cedar"), FLIP);
    const fixed = m.reload("SIGHUP");
    assert.ok(fixed.ok && fixed.changed);
    assert.notEqual(fixed.version, good);
    assert.equal(m.current().evaluate(search).decision, "deny");
    const after = m.status();
    assert.equal(after.version, fixed.version);
    assert.equal(after.refusing, false);
    assert.match(after.lastError ?? "", diagnostic, "the last refusal stays visible as history");
    assert.ok(after.loadedAt >= (after.lastErrorAt as Date));
    assert.deepEqual(m.metrics(), { reloads: 1, refusals: 1, unchanged: 0 });
  });
}

test("reload() of unchanged files swaps nothing", () => {
  const { m } = manager(copyShipped());
  const e = m.current();
  const r = m.reload("SIGHUP");
  assert.ok(r.ok && !r.changed);
  assert.equal(m.current(), e);
  assert.deepEqual(m.metrics(), { reloads: 0, refusals: 0, unchanged: 1 });
});

test("watch: a change loads; a broken file is refused and the old version stays; the fix loads", async () => {
  const dir = copyShipped();
  const { m } = manager(dir, { watch: true, quietMs: 30 });
  const v0 = m.current().version;

  // A new policy file (policies/ is watched).
  writeFileSync(path.join(dir, "policies/zz-flip.cedar"), FLIP);
  await until("the new file to load", () => m.current().version !== v0);
  const v1 = m.current().version;
  assert.equal(m.current().evaluate(search).decision, "deny");
  assert.equal(m.status().loadReason, "watch");

  // Broken in place: refused, v1 stays.
  appendFileSync(path.join(dir, "policies/zz-flip.cedar"), '\n@id("typo")\n@reason("x")\nforbid (principal, action, resource) when { resource.riks > 1 };\n');
  await until("the refusal", () => m.metrics().refusals === 1);
  assert.equal(m.current().version, v1);
  assert.equal(m.status().refusing, true);
  assert.match(m.status().lastError ?? "", /zz-flip\.cedar:\d+ \[typo\]/);
  assert.equal(m.current().evaluate(search).decision, "deny");

  // Fixed by an atomic save (write a temp file, rename over): loads.
  const tmp = path.join(dir, "policies/.zz-flip.cedar.tmp");
  writeFileSync(tmp, FLIP.replace("flip-no-search", "flip-no-search-2"));
  const { renameSync } = await import("node:fs");
  renameSync(tmp, path.join(dir, "policies/zz-flip.cedar"));
  await until("the fix to load", () => m.current().version !== v1 && m.status().refusing === false);
  assert.deepEqual(m.current().evaluate(search).reasons.map((r) => r.policyId), ["flip-no-search-2"]);

  // Entities and the schema are watched too.
  const v2 = m.current().version;
  const tools = path.join(dir, "entities/tools.json");
  writeFileSync(tools, readFileSync(tools, "utf8").replace('"risk": 9', '"risk": 8'));
  await until("the entity change to load", () => m.current().version !== v2);
  const v3 = m.current().version;
  appendFileSync(path.join(dir, "schema.cedarschema"), "\n// a comment\n");
  await until("the schema change to load", () => m.current().version !== v3);

  m.close();
  const v4 = m.current().version;
  unlinkSync(path.join(dir, "policies/zz-flip.cedar"));
  await sleep(200);
  assert.equal(m.current().version, v4, "closed: no more reloads");
});

test("two managers in one thread do not share preparse slots", () => {
  const a = manager(copyShipped()).m;
  const dirB = copyShipped();
  writeFileSync(path.join(dirB, "policies/zz-flip.cedar"), FLIP);
  const b = manager(dirB).m;
  for (let i = 0; i < 3; i++) {
    assert.equal(a.current().evaluate(search).decision, "allow");
    assert.equal(b.current().evaluate(search).decision, "deny");
    appendFileSync(path.join(dirB, "policies/zz-flip.cedar"), "\n");
    assert.ok(b.reload("test").ok);
  }
});

test("requested_ttl_seconds reaches policy; a fractional TTL is refused as an invalid request", () => {
  const { m } = manager(copyShipped());
  const open: DecisionInput = { ...search, action: "open_session" };
  assert.equal(m.current().evaluate({ ...open, requestedTtlSeconds: 900 }).decision, "allow");
  const over = m.current().evaluate({ ...open, requestedTtlSeconds: 901 });
  assert.deepEqual(over.reasons.map((r) => r.policyId), ["session-max-ttl"]);
  const bad = m.current().evaluate({ ...open, requestedTtlSeconds: 1.5 });
  assert.equal(bad.outcome, "error");
  assert.match(bad.errors.join(), /whole number/);
});
