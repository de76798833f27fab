/**
 * A policy set is loaded whole or not at all (issue 12, finding 1): a manifest (`SHA256SUMS`, as
 * `sha256sum` writes it) makes a version explicit, a directory switched by an atomic symlink rename
 * reloads on the swap and is read through one resolution, a removal of policies is loud and in
 * production refused unless a manifest announces it, and a refusal that a later good version
 * superseded says so.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";
import { PdpError } from "../../src/errors.js";
import { createPolicyManager, loadPolicySet } from "../../src/policy/index.js";
import type { DecisionInput, PolicyManager, PolicyManagerOptions } from "../../src/policy/index.js";

const shipped = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../cedar");
const temps: string[] = [];
const managers: PolicyManager[] = [];
after(() => {
  managers.forEach((m) => m.close());
  temps.forEach((d) => rmSync(d, { recursive: true, force: true }));
});

function tempDir(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), "mcp-pdp-atomic-"));
  temps.push(dir);
  return dir;
}

function copyShipped(to = tempDir()): string {
  cpSync(shipped, to, { recursive: true });
  return to;
}

/** Writes `SHA256SUMS` in `dir` with the real `sha256sum`, over the files of the set. */
function writeManifest(dir: string): void {
  const files = ["schema.cedarschema", ...list(dir, "policies", ".cedar"), ...list(dir, "entities", ".json"), ...list(dir, "definitions", ".json")];
  const out = execFileSync("sha256sum", files, { cwd: dir, encoding: "utf8" });
  writeFileSync(path.join(dir, "SHA256SUMS"), out);
}

function list(dir: string, sub: string, ext: string): string[] {
  if (!existsSync(path.join(dir, sub))) return [];
  return execFileSync("ls", [sub], { cwd: dir, encoding: "utf8" })
    .split("\n")
    .filter((n) => n.endsWith(ext))
    .map((n) => `${sub}/${n}`);
}

function memoryLogger() {
  const lines: { level: string; obj: any; msg: string }[] = [];
  const at = (level: string) => (obj: unknown, msg?: string) => void lines.push({ level, obj, msg: msg ?? "" });
  return { lines, logger: { info: at("info"), warn: at("warn"), error: at("error") } as never };
}

function manager(dir: string, extra: Partial<PolicyManagerOptions> = {}) {
  const { lines, logger } = memoryLogger();
  const m = createPolicyManager({ dir, logger, ...extra });
  managers.push(m);
  return { m, lines };
}

async function until(what: string, cond: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(20);
  }
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

const isInvalid = (pattern: RegExp) => (e: unknown) => e instanceof PdpError && e.code === "POLICY_INVALID" && pattern.test(e.message);

describe("manifest (SHA256SUMS)", { timeout: 60_000 }, () => {
  test("a set that matches its manifest loads; a file that does not match is refused, naming it", () => {
    const dir = copyShipped();
    writeManifest(dir);
    const { m } = manager(dir);
    const v0 = m.current().version;
    assert.equal(v0, loadPolicySet(dir).version, "the manifest is not part of the version");

    // Changed without a new manifest (or half-written): refused, the old version stays.
    writeFileSync(path.join(dir, "policies/tool-allowlist.cedar"), "");
    const r = m.reload("SIGHUP");
    assert.equal(r.ok, false);
    assert.ok(!r.ok);
    assert.match(r.error, /policies\/tool-allowlist\.cedar.*(SHA256SUMS|manifest)/);
    assert.equal(m.current().version, v0);
    assert.equal(m.current().evaluate(search).decision, "allow");
  });

  test("a file the manifest does not list is refused; a listed file that is missing is refused", () => {
    const dir = copyShipped();
    writeManifest(dir);
    const { m } = manager(dir);
    const v0 = m.current().version;
    writeFileSync(path.join(dir, "policies/zz-flip.cedar"), FLIP);
    const unlisted = m.reload("SIGHUP");
    assert.ok(!unlisted.ok);
    assert.match(unlisted.error, /policies\/zz-flip\.cedar.*not listed/);
    assert.equal(m.current().version, v0);

    rmSync(path.join(dir, "policies/zz-flip.cedar"));
    rmSync(path.join(dir, "policies/chain-rule.cedar"));
    const missing = m.reload("SIGHUP");
    assert.ok(!missing.ok);
    assert.match(missing.error, /policies\/chain-rule\.cedar/);
    assert.equal(m.current().version, v0);

    // The new manifest that announces the change: loads.
    writeFileSync(path.join(dir, "policies/zz-flip.cedar"), FLIP);
    writeManifest(dir);
    const ok = m.reload("SIGHUP");
    assert.ok(ok.ok && ok.changed, JSON.stringify(ok));
    assert.equal(m.current().evaluate(search).decision, "deny");
  });

  test("requireManifest: a directory without one is refused (at start too); a malformed manifest is refused", () => {
    const dir = copyShipped();
    assert.throws(() => manager(dir, { requireManifest: true }), isInvalid(/SHA256SUMS/));
    writeManifest(dir);
    const { m } = manager(dir, { requireManifest: true });
    writeFileSync(path.join(dir, "SHA256SUMS"), readFileSync(path.join(dir, "SHA256SUMS"), "utf8").slice(0, 100));
    const r = m.reload("SIGHUP");
    assert.ok(!r.ok);
    assert.match(r.error, /SHA256SUMS/);
  });
});

describe("settle", { timeout: 60_000 }, () => {
  test("changes that go on past settleTimeoutMs are refused (the version in force stays); the quiet period after them loads", async () => {
    const dir = copyShipped();
    const { m } = manager(dir, { watch: true, quietMs: 500, settleTimeoutMs: 1500 });
    const v0 = m.current().version;
    const file = path.join(dir, "policies/zz-flip.cedar");
    const seen = new Set<string>();
    const end = Date.now() + 3000;
    for (let i = 0; Date.now() < end; i++) {
      // Never quiet for 500 ms: each write is a different (valid) version.
      writeFileSync(file, FLIP.replace("flip-no-search", `flip-${i}`));
      seen.add(m.current().version);
      await sleep(20);
    }
    assert.deepEqual([...seen], [v0], "nothing loaded while the files kept changing");
    assert.ok(m.metrics().refusals >= 1, "the unsettled attempt is refused");
    assert.match(m.status().lastError ?? "", /kept changing/);
    await until("the last write to load", () => m.current().version !== v0);
    assert.equal(m.current().evaluate(search).decision, "deny");
    assert.equal(m.status().lastErrorSuperseded, true);
  });
});

describe("symlink swap", { timeout: 60_000 }, () => {
  test("current -> releases/N: the swap is watched and loads the new set whole", async () => {
    const base = tempDir();
    mkdirSync(path.join(base, "releases"));
    const r1 = copyShipped(path.join(base, "releases", "1"));
    const r2 = copyShipped(path.join(base, "releases", "2"));
    writeFileSync(path.join(r2, "policies/zz-flip.cedar"), FLIP);
    const v2 = loadPolicySet(r2).version;
    symlinkSync("releases/1", path.join(base, "current"));
    const { m } = manager(path.join(base, "current"), { watch: true, quietMs: 100 });
    const v1 = m.current().version;
    assert.equal(v1, loadPolicySet(r1).version);

    const seen = new Set<string>();
    let stop = false;
    const sampler = (async () => {
      while (!stop) {
        seen.add(m.current().evaluate(search).version);
        await sleep(1);
      }
    })();
    try {
      symlinkSync("releases/2", path.join(base, "current.new"));
      renameSync(path.join(base, "current.new"), path.join(base, "current"));
      await until("the swapped-in release to load", () => m.current().version === v2);
    } finally {
      stop = true;
      await sampler;
    }
    assert.deepEqual([...seen].filter((v) => v !== v1 && v !== v2), [], "only the two whole versions ever decided");
    assert.equal(m.current().evaluate(search).decision, "deny");
    assert.equal(m.status().loadReason, "watch");
  });

  test("a Kubernetes ConfigMap mount (..data -> ..<timestamp>): the swap loads the new set", async () => {
    const mount = tempDir();
    const t1 = copyShipped(path.join(mount, "..2026_11_30_01"));
    const t2 = copyShipped(path.join(mount, "..2026_11_30_02"));
    writeFileSync(path.join(t2, "policies/zz-flip.cedar"), FLIP);
    symlinkSync("..2026_11_30_01", path.join(mount, "..data"));
    for (const name of ["schema.cedarschema", "policies", "entities"]) symlinkSync(`..data/${name}`, path.join(mount, name));
    const { m } = manager(mount, { watch: true, quietMs: 100 });
    assert.equal(m.current().version, loadPolicySet(t1).version);

    symlinkSync("..2026_11_30_02", path.join(mount, "..data_tmp"));
    renameSync(path.join(mount, "..data_tmp"), path.join(mount, "..data"));
    await until("the new ConfigMap version to load", () => m.current().version === loadPolicySet(t2).version);
    assert.equal(m.current().evaluate(search).decision, "deny");
  });
});

describe("removals", { timeout: 60_000 }, () => {
  test("a removal is logged loudly, naming the policies and files (allowed in development)", () => {
    const dir = copyShipped();
    const { m, lines } = manager(dir, { unannouncedRemovals: "allow" });
    rmSync(path.join(dir, "policies/session-budget.cedar"));
    const r = m.reload("SIGHUP");
    assert.ok(r.ok && r.changed);
    const warn = lines.find((l) => l.level === "warn" && /remov/i.test(l.msg));
    assert.ok(warn, `a warning about the removal: ${JSON.stringify(lines.map((l) => l.msg))}`);
    assert.match(warn.msg, /session-call-budget/);
    assert.match(warn.msg, /policies\/session-budget\.cedar/);
  });

  test("unannouncedRemovals refuse: a set that drops a policy is refused; a manifest announces it", () => {
    const dir = copyShipped();
    const { m, lines } = manager(dir, { unannouncedRemovals: "refuse" });
    const v0 = m.current().version;
    writeFileSync(path.join(dir, "policies/session-budget.cedar"), "");
    const r = m.reload("watch");
    assert.ok(!r.ok, "a removal without a manifest is refused");
    assert.match(r.error, /session-call-budget/);
    assert.equal(m.current().version, v0);
    assert.ok(lines.some((l) => l.level === "error" && /session-call-budget/.test(l.msg)));

    // Additions are not removals.
    writeFileSync(path.join(dir, "policies/session-budget.cedar"), readFileSync(path.join(shipped, "policies/session-budget.cedar")));
    writeFileSync(path.join(dir, "policies/zz-flip.cedar"), FLIP);
    assert.ok(m.reload("watch").ok);

    // The same removal, announced by a manifest that matches: loads (still logged).
    rmSync(path.join(dir, "policies/session-budget.cedar"));
    writeManifest(dir);
    const announced = m.reload("watch");
    assert.ok(announced.ok && announced.changed, JSON.stringify(announced));
    assert.ok(lines.some((l) => l.level === "warn" && /session-call-budget/.test(l.msg)));
  });
});

describe("last_error after a later good version", { timeout: 60_000 }, () => {
  test("a refusal that a later version superseded is marked so, with that version", () => {
    const dir = copyShipped();
    const { m } = manager(dir);
    writeFileSync(path.join(dir, "policies/zz-bad.cedar"), "permit (principal, action, resource) when { 1 + };");
    assert.equal(m.reload("SIGHUP").ok, false);
    const refused = m.status();
    assert.equal(refused.refusing, true);
    assert.equal(refused.lastErrorSuperseded, false);

    writeFileSync(path.join(dir, "policies/zz-bad.cedar"), FLIP);
    const ok = m.reload("SIGHUP");
    assert.ok(ok.ok && ok.changed);
    const s = m.status();
    assert.match(s.lastError ?? "", /zz-bad\.cedar/, "kept as history");
    assert.equal(s.lastErrorSuperseded, true);
    assert.equal(s.lastErrorSupersededBy, ok.version);
  });
});
