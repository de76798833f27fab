/**
 * `mcp-pdp trust report` over a generated audit of 100,000 decisions (NDJSON written directly, as
 * `audit export` writes it): it lists exactly the expansions that were generated — each at the
 * earliest decision that carried it — nothing from before the window, nothing from decisions that
 * merely repeat a relation, and prints progress on stderr.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import type { DecisionRecord } from "../../src/audit/decision-record.js";
import type { TrustReport } from "../../src/audit/trust-report.js";
import { trustReport } from "../../src/cli/trust.js";

const T0 = Date.parse("2026-10-01T00:00:00Z");
const SINCE = "2026-10-02T00:00:00Z";
const N = 100_000;

/** A seeded PRNG (mulberry32): the audit is the same on every run. */
function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Planted {
  readonly subject: string;
  readonly relation: string;
  readonly value: string;
  readonly decisionId: string;
}

function generate(): { lines: string; expected: Map<string, Planted> } {
  const rand = rng(17);
  const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)]!;
  const users = Array.from({ length: 200 }, (_, i) => `user-${i}`);
  const agents = Array.from({ length: 50 }, (_, i) => `spiffe://example.org/agent/${i}`);
  const clients = Array.from({ length: 30 }, (_, i) => `client-${i}`);
  const servers = Array.from({ length: 20 }, (_, i) => `https://s${i}.example/mcp`);
  const idps = ["https://idp.example", "https://login.corp.example"];
  const expected = new Map<string, Planted>();
  const plant = (subject: string, relation: string, value: string, decisionId: string, inWindow: boolean) => {
    const k = `${subject}|${relation}|${value}`;
    if (inWindow && !expected.has(k)) expected.set(k, { subject, relation, value, decisionId });
  };
  const out: string[] = [];
  let pendingRepeats: { record: DecisionRecord; left: number } | undefined;
  for (let i = 0; i < N; i++) {
    const time = new Date(T0 + i * 2000).toISOString(); // 100k × 2 s ≈ 2.3 days; the first day is before the window
    const inWindow = time >= SINCE;
    const decisionId = `d-${String(i).padStart(6, "0")}`;
    let r: DecisionRecord;
    if (pendingRepeats && rand() < 0.5) {
      // A later call in the same first session repeats the session's first-seen facts: never a new addition.
      r = { ...pendingRepeats.record, time, decisionId, kind: "authorize", action: "call_tool", tool: "t" };
      if (--pendingRepeats.left === 0) pendingRepeats = undefined;
    } else {
      const user = pick(users);
      const [issuer, agent, client, server] = [pick(idps), pick(agents), pick(clients), pick(servers)];
      const base = {
        time, decisionId, instance: "gen:1", userIssuer: issuer, userSubject: user, agentId: agent, clientId: client, serverId: server, idp: issuer,
        reasons: [], policyVersion: "0123456789abcdef", latencyUs: 100,
      };
      if (i % 200 === 7) {
        // A first sighting: an allowed opening with a random subset of first-seen kinds.
        const kinds = ["client_for_user", "agent_at_server", "client_at_server", "idp_for_server", "new_scopes", "broker_path"].filter(() => rand() < 0.5);
        if (kinds.length === 0) kinds.push("client_for_user");
        const scopes = kinds.includes("new_scopes") ? [`scope-${i}-a`, `scope-${i}-b`] : [];
        const paths = kinds.includes("broker_path") ? [`${server} -> vendor-${i % 7}`] : [];
        r = {
          ...base, kind: "open_session", action: "open_session", decision: "ALLOW", reasonCode: "ALLOWED", firstSeen: kinds,
          ...(scopes.length > 0 && { firstSeenScopes: scopes }), ...(paths.length > 0 && { firstSeenPaths: paths }),
        };
        const u = `user ${issuer}#${user}`;
        const a = `agent ${agent}`;
        const s = `server ${server}`;
        for (const k of kinds) {
          if (k === "client_for_user") plant(u, "clients", client, decisionId, inWindow);
          if (k === "new_scopes") for (const x of scopes) plant(u, "scopes", x, decisionId, inWindow);
          if (k === "agent_at_server") (plant(a, "servers", server, decisionId, inWindow), plant(s, "agents", agent, decisionId, inWindow));
          if (k === "broker_path") for (const p of paths) plant(a, "paths", p, decisionId, inWindow);
          if (k === "client_at_server") plant(s, "clients", client, decisionId, inWindow);
          if (k === "idp_for_server") plant(s, "idps", issuer, decisionId, inWindow);
        }
        pendingRepeats = { record: r, left: 3 };
      } else {
        const allow = rand() < 0.8;
        r = { ...base, kind: "authorize", action: "call_tool", tool: "t", decision: allow ? "ALLOW" : "DENY", reasonCode: allow ? "ALLOWED" : "NO_PERMIT" };
      }
    }
    out.push(JSON.stringify(r));
  }
  return { lines: out.join("\n") + "\n", expected };
}

test("the report over 100,000 generated decisions lists exactly the generated expansions", { timeout: 120_000 }, async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "trust-report-"));
  try {
    const { lines, expected } = generate();
    const file = path.join(dir, "audit.ndjson");
    writeFileSync(file, lines);
    const out: string[] = [];
    const err: string[] = [];
    const io = { out: (t: string) => void out.push(t), err: (t: string) => void err.push(t) };
    assert.equal(await trustReport({ file, since: SINCE, json: true }, io), 0);
    const report = JSON.parse(out.join("")) as TrustReport;

    const got = new Map<string, Planted>();
    for (const s of report.subjects)
      for (const a of s.added) got.set(`${s.kind} ${s.id}|${a.relation}|${a.value}`, { subject: `${s.kind} ${s.id}`, relation: a.relation, value: a.value, decisionId: a.decisionId });
    assert.ok(expected.size > 500, `the generator planted ${expected.size} expansions`);
    assert.deepEqual([...got.keys()].sort(), [...expected.keys()].sort(), "exactly the planted expansions");
    for (const [k, e] of expected) assert.equal(got.get(k)!.decisionId, e.decisionId, `${k}: added by the opening that first carried it`);

    const sizes = report.subjects.map((s) => s.added.length);
    assert.deepEqual(sizes, [...sizes].sort((a, b) => b - a), "biggest expansions first");
    for (const s of report.subjects)
      for (const [relation, now] of Object.entries(s.now)) {
        const start = new Set(s.start[relation as keyof typeof s.start]);
        for (const a of s.added.filter((x) => x.relation === relation)) assert.ok(now!.includes(a.value) && !start.has(a.value), "added: in now, not at the start");
      }
    assert.ok(err.some((l) => /read 50000 decision records/.test(l)), "progress on stderr");
    assert.match(err.at(-1)!, /100000 decision record\(s\) read/);

    // --user narrows to that user's row; the text form names its additions with their decisions.
    const [first] = [...expected.values()].filter((e) => e.subject.startsWith("user "));
    const subject = first!.subject.slice("user ".length);
    const text: string[] = [];
    await trustReport({ file, since: SINCE, user: subject }, { out: (t) => void text.push(t), err: () => {} });
    const body = text.join("");
    assert.match(body, new RegExp(`^user ${subject.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}`, "m"));
    assert.doesNotMatch(body, /^(agent|server) /m);
    assert.ok(body.includes(`decision ${first!.decisionId}`), body.slice(0, 500));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a line that is not a decision record is a usage failure naming the line", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "trust-report-"));
  try {
    const file = path.join(dir, "bad.ndjson");
    writeFileSync(file, `${JSON.stringify({ time: "2026-11-01T00:00:00Z", decisionId: "x", decision: "ALLOW" })}\nnot json\n`);
    await assert.rejects(trustReport({ file }, { out: () => {}, err: () => {} }), /bad\.ndjson:2: not a JSON decision record/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
