/**
 * The behavioural contract of SessionStore, RevocationStore and DecisionStateReader. Registered once
 * per implementation (memory-stores.test.ts, redis-stores.test.ts) with a factory; the suite uses
 * only the interfaces and `advance(ms)` (a controllable clock for memory, real waiting for Redis).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { PdpError } from "../../src/errors.js";
import { newSessionId } from "../../src/session/session-id.js";
import { sessionStatus } from "../../src/session/session-status.js";
import { userRef } from "../../src/session/user-ref.js";
import type {
  DecisionStateReader,
  NewSession,
  RevocationEvent,
  RevocationStore,
  SessionBinding,
  SessionStore,
} from "../../src/session/types.js";
import type { StoredDefinition, ToolDefinitionStore } from "../../src/session/tool-definition-types.js";
import { pinOf, type ToolDefinition } from "../../src/policy/tool-definitions.js";

const SERVER = "https://mcp.example/files";

function stored(name: string, description: string): StoredDefinition {
  const definition: ToolDefinition = { name, description, inputSchema: { type: "object", properties: { path: { type: "string" } } }, annotations: { readOnlyHint: true } };
  return { serverId: SERVER, definition, pin: pinOf(definition), reportedAt: 1_700_000_000_000 };
}

/** One set of stores for one test. */
export interface StoreHarness {
  readonly sessions: SessionStore;
  readonly revocations: RevocationStore;
  readonly reader: DecisionStateReader;
  /** The revocation store of a second replica (for Redis: another connection). */
  readonly otherReplicaRevocations: RevocationStore;
  readonly definitions: ToolDefinitionStore;
  /** The definition store of a second replica (for Redis: another connection). */
  readonly otherReplicaDefinitions: ToolDefinitionStore;
  /** The stores' clock. */
  now(): number;
  /** Lets `ms` pass (moves the clock, or waits). */
  advance(ms: number): Promise<void>;
  /** Closes the stores and deletes what the test stored. */
  close(): Promise<void>;
}

/** Store options a test may ask for. */
export interface HarnessOptions {
  readonly expiredRetentionMs: number;
}

/** Builds a fresh harness (fresh key prefix) for one test. */
export type HarnessFactory = (options: HarnessOptions) => Promise<StoreHarness>;

/** A short TTL for expiry tests: long enough for a few Redis round trips under load. */
const TTL = 400;

const binding: SessionBinding = {
  userIssuer: "https://idp.example",
  userSubject: "alice",
  agentId: "spiffe://example.org/agent/researcher",
  clientId: "client-1",
  serverId: "https://mcp.example/files",
  idp: "https://idp.example",
  purpose: "quarterly-report",
};

function newSession(h: StoreHarness, ttl: number, over: Partial<SessionBinding> = {}): NewSession {
  const now = h.now();
  return {
    id: newSessionId(),
    binding: { ...binding, ...over },
    grantedTools: ["read_file", "search"],
    grantedResources: ["file:///reports"],
    grantedPrompts: ["summarise"],
    createdAt: now,
    expiresAt: now + ttl,
  };
}

async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => err instanceof PdpError && err.code === code);
}

/** Registers the contract suite for one implementation. */
export function storeContract(name: string, factory: HarnessFactory): void {
  const run = (title: string, fn: (h: StoreHarness) => Promise<void>, retention = 0) =>
    test(title, { timeout: 60_000 }, async () => {
      const h = await factory({ expiredRetentionMs: retention });
      try {
        await fn(h);
      } finally {
        await h.close();
      }
    });

  describe(`${name}: sessions`, () => {
    run("create then get returns the same session, active, with empty history", async (h) => {
      const s = newSession(h, 60_000);
      await h.sessions.create(s);
      const got = await h.sessions.get(s.id);
      assert.ok(got);
      assert.deepEqual(got, { ...s, facts: { callCount: 0, tools: [], labels: [], riskTotal: 0 }, state: "active" });
      assert.equal(await h.sessions.get(newSessionId()), undefined);
    });

    run("bad input is INVALID_REQUEST; an id in use is refused", async (h) => {
      const s = newSession(h, 60_000);
      await h.sessions.create(s);
      await rejectsWith(h.sessions.create({ ...s }), "INVALID_REQUEST");
      await rejectsWith(h.sessions.create({ ...newSession(h, 1000), expiresAt: h.now() - 1 }), "INVALID_REQUEST");
      await rejectsWith(h.sessions.create({ ...newSession(h, 1000), id: "short" }), "INVALID_REQUEST");
      await rejectsWith(h.sessions.create(newSession(h, 1000, { agentId: "" })), "INVALID_REQUEST");
      await rejectsWith(h.sessions.get("not a handle}"), "INVALID_REQUEST");
      await rejectsWith(h.sessions.appendCall(s.id, { tool: "x", labels: [], risk: -1 }), "INVALID_REQUEST");
    });

    run("a session is gone after its TTL", async (h) => {
      const s = newSession(h, TTL);
      await h.sessions.create(s);
      await h.advance(TTL / 2);
      assert.equal((await h.sessions.get(s.id))?.state, "active");
      await h.advance(TTL / 2 + 200);
      assert.equal(await h.sessions.get(s.id), undefined);
      assert.deepEqual(await h.sessions.appendCall(s.id, { tool: "read_file", labels: [], risk: 1 }), { ok: false, reason: "unknown" });
    });

    run(
      "with retention, an expired session reads as expired until retention ends",
      async (h) => {
        const s = newSession(h, TTL);
        await h.sessions.create(s);
        await h.advance(TTL + 150);
        const got = await h.sessions.get(s.id);
        assert.ok(got, "kept during retention");
        assert.equal(sessionStatus(got, h.now()), "expired");
        assert.deepEqual(await h.sessions.appendCall(s.id, { tool: "read_file", labels: [], risk: 1 }), { ok: false, reason: "expired" });
        await h.advance(TTL + 100);
        assert.equal(await h.sessions.get(s.id), undefined);
      },
      TTL,
    );

    run("appendCall does not extend the session's lifetime", async (h) => {
      const s = newSession(h, TTL);
      await h.sessions.create(s);
      await h.advance(TTL - 150);
      const r = await h.sessions.appendCall(s.id, { tool: "read_file", labels: ["sensitive"], risk: 1 });
      assert.equal(r.ok, true);
      assert.equal((await h.sessions.get(s.id))?.expiresAt, s.expiresAt);
      await h.advance(250);
      assert.equal(await h.sessions.get(s.id), undefined);
    });

    run("appendCall accumulates tools (bounded, oldest first), labels (a set) and risk", async (h) => {
      const s = newSession(h, 60_000);
      await h.sessions.create(s);
      const a = await h.sessions.appendCall(s.id, { tool: "read_file", labels: ["sensitive", "pii"], risk: 2 });
      assert.deepEqual(a, { ok: true, facts: { callCount: 1, tools: ["read_file"], labels: ["pii", "sensitive"], riskTotal: 2 } });
      const b = await h.sessions.appendCall(s.id, { tool: "send_mail", labels: ["egress", "pii"], risk: 0.5 });
      assert.deepEqual(b, { ok: true, facts: { callCount: 2, tools: ["read_file", "send_mail"], labels: ["egress", "pii", "sensitive"], riskTotal: 2.5 } });
      for (let i = 0; i < 53; i++) await h.sessions.appendCall(s.id, { tool: `t${i}`, labels: [], risk: 0 });
      const got = await h.sessions.get(s.id);
      assert.equal(got?.facts.callCount, 55);
      assert.equal(got?.facts.tools.length, 50);
      assert.equal(got?.facts.tools[0], "t3");
      assert.equal(got?.facts.tools[49], "t52");
      assert.deepEqual(got?.facts.labels, ["egress", "pii", "sensitive"]);
    });

    run("50 concurrent appends count exactly 50", async (h) => {
      const s = newSession(h, 60_000);
      await h.sessions.create(s);
      const results = await Promise.all(
        Array.from({ length: 50 }, (_, i) => h.sessions.appendCall(s.id, { tool: `t${i}`, labels: [`l${i % 3}`], risk: 1 })),
      );
      assert.ok(results.every((r) => r.ok));
      const counts = results.map((r) => (r.ok ? r.facts.callCount : 0)).sort((x, y) => x - y);
      assert.deepEqual(counts, Array.from({ length: 50 }, (_, i) => i + 1), "each append saw a distinct count");
      const got = await h.sessions.get(s.id);
      assert.equal(got?.facts.callCount, 50);
      assert.equal(got?.facts.riskTotal, 50);
      assert.deepEqual(got?.facts.labels, ["l0", "l1", "l2"]);
    });

    run("with a budget of 20, exactly 20 of 50 concurrent appends succeed", async (h) => {
      const s = newSession(h, 60_000);
      await h.sessions.create(s);
      const results = await Promise.all(
        Array.from({ length: 50 }, () => h.sessions.appendCall(s.id, { tool: "search", labels: [], risk: 1 }, { maxCalls: 20 })),
      );
      assert.equal(results.filter((r) => r.ok).length, 20);
      assert.ok(results.filter((r) => !r.ok).every((r) => !r.ok && r.reason === "budget_exhausted"));
      assert.equal((await h.sessions.get(s.id))?.facts.callCount, 20);
    });

    run("end marks ended/revoked at once; revoked is never downgraded; the tombstone lasts until expiry", async (h) => {
      const s = newSession(h, TTL);
      await h.sessions.create(s);
      assert.equal(await h.sessions.end(s.id, "ended"), "changed");
      const ended = await h.sessions.get(s.id);
      assert.equal(ended?.state, "ended");
      assert.equal(typeof ended?.endedAt, "number");
      assert.deepEqual(await h.sessions.appendCall(s.id, { tool: "search", labels: [], risk: 0 }), { ok: false, reason: "ended" });
      assert.equal(await h.sessions.end(s.id, "ended"), "unchanged");
      assert.equal(await h.sessions.end(s.id, "revoked"), "changed");
      assert.equal(await h.sessions.end(s.id, "ended"), "unchanged");
      assert.equal((await h.sessions.get(s.id))?.state, "revoked");
      assert.deepEqual(await h.sessions.appendCall(s.id, { tool: "search", labels: [], risk: 0 }), { ok: false, reason: "revoked" });
      assert.equal(await h.sessions.end(newSessionId(), "revoked"), "unknown");
      await h.advance(TTL / 2);
      assert.equal(sessionStatus((await h.sessions.get(s.id))!, h.now()), "revoked");
      await h.advance(TTL / 2 + 200);
      assert.equal(await h.sessions.get(s.id), undefined);
    });

    run("listBy/endBy find and end a subject's sessions only", async (h) => {
      const a1 = newSession(h, 60_000);
      const a2 = newSession(h, 60_000, { userSubject: "bob", clientId: "client-2" });
      const b1 = newSession(h, 60_000, { agentId: "spiffe://example.org/agent/other" });
      const short = newSession(h, TTL);
      for (const s of [a1, a2, b1, short]) await h.sessions.create(s);
      assert.deepEqual(await h.sessions.listBy({ kind: "agent", value: binding.agentId }), [a1.id, a2.id, short.id].sort());
      assert.deepEqual(await h.sessions.listBy({ kind: "user", value: userRef(binding.userIssuer, "bob") }), [a2.id]);
      assert.deepEqual(await h.sessions.listBy({ kind: "client", value: "client-1" }), [a1.id, b1.id, short.id].sort());
      await h.advance(TTL + 150);
      assert.deepEqual(await h.sessions.listBy({ kind: "agent", value: binding.agentId }), [a1.id, a2.id].sort(), "expired ones drop out");
      assert.equal(await h.sessions.endBy({ kind: "agent", value: binding.agentId }, "revoked"), 2);
      assert.equal((await h.sessions.get(a1.id))?.state, "revoked");
      assert.equal((await h.sessions.get(a2.id))?.state, "revoked");
      assert.equal((await h.sessions.get(b1.id))?.state, "active");
      assert.equal(await h.sessions.endBy({ kind: "agent", value: binding.agentId }, "revoked"), 0);
      assert.deepEqual(await h.sessions.listBy({ kind: "agent", value: "nobody" }), []);
    });
  });

  describe(`${name}: tool definitions`, () => {
    run("a report replaces the server's list and says what changed and what was removed; every replica reads it", async (h) => {
      const first = await h.definitions.report(SERVER, [stored("read_file", "Read."), stored("list_dir", "List.")]);
      assert.deepEqual([...first.changed].sort(), ["list_dir", "read_file"]);
      assert.deepEqual(first.removed, []);
      assert.deepEqual(await h.otherReplicaDefinitions.get(SERVER, "read_file"), stored("read_file", "Read."));
      const second = await h.definitions.report(SERVER, [stored("read_file", "Read, then mail it out.")]);
      assert.deepEqual(second, { changed: ["read_file"], removed: ["list_dir"] });
      assert.equal(await h.definitions.get(SERVER, "list_dir"), undefined);
      assert.equal((await h.otherReplicaDefinitions.get(SERVER, "read_file"))?.pin.digest, stored("read_file", "Read, then mail it out.").pin.digest);
      const many = await h.definitions.getMany(SERVER, ["read_file", "list_dir", "nope"]);
      assert.deepEqual([...many.keys()], ["read_file"]);
      assert.deepEqual(await h.definitions.report(SERVER, [stored("read_file", "Read, then mail it out.")]), { changed: [], removed: [] });
      assert.equal(await h.definitions.get("https://other.example/mcp", "read_file"), undefined);
      assert.deepEqual(await h.definitions.report(SERVER, []), { changed: [], removed: ["read_file"] });
      assert.equal((await h.definitions.getMany(SERVER, ["read_file"])).size, 0);
    });

    run("a session's tool pins are stored with it and read back by the decision load", async (h) => {
      const pin = stored("read_file", "Read.").pin;
      const s = { ...newSession(h, 60_000), toolPins: { read_file: pin } };
      await h.sessions.create(s);
      assert.deepEqual((await h.sessions.get(s.id))?.toolPins, { read_file: pin });
      const state = await h.reader.loadForDecision(s.id, { agentId: binding.agentId });
      assert.deepEqual(state.session?.toolPins, { read_file: pin });
    });

    run("a session's first-seen facts (novelty) are stored with it and read back by the decision load", async (h) => {
      const novelty = { firstSeen: ["client_for_user", "new_scopes"] as const, newScopes: ["files.write"], newPaths: [], openScopes: ["files.read", "files.write"] };
      const s = { ...newSession(h, 60_000), novelty };
      await h.sessions.create(s);
      assert.deepEqual((await h.sessions.get(s.id))?.novelty, novelty);
      const state = await h.reader.loadForDecision(s.id, { agentId: binding.agentId });
      assert.deepEqual(state.session?.novelty, novelty);
    });
  });

  describe(`${name}: revocations`, () => {
    for (const kind of ["agent", "user", "client"] as const) {
      run(`a ${kind} revocation refuses tokens issued at or before it, accepts later ones`, async (h) => {
        const at = h.now();
        const subjects = { agentId: binding.agentId, user: userRef(binding.userIssuer, binding.userSubject), clientId: binding.clientId };
        const value = kind === "agent" ? subjects.agentId : kind === "user" ? subjects.user : subjects.clientId;
        const rec = await h.revocations.revoke({ kind, value, at, ttlMs: 60_000 });
        assert.deepEqual(rec, { kind, value, at });
        assert.deepEqual(await h.revocations.check({ ...subjects, tokensIssuedAt: at - 1000 }), rec);
        assert.deepEqual(await h.revocations.check({ ...subjects, tokensIssuedAt: at }), rec);
        assert.equal(await h.revocations.check({ ...subjects, tokensIssuedAt: at + 1 }), null);
        assert.deepEqual(await h.revocations.check({ ...subjects }), rec, "unknown issue time: refused");
        assert.equal(await h.revocations.check({ agentId: "x", user: "y#z", clientId: "w", tokensIssuedAt: at - 1000 }), null);
      });
    }

    run("a jti revocation refuses that token whatever its issue time", async (h) => {
      const rec = await h.revocations.revoke({ kind: "jti", value: "tok-2", at: h.now(), ttlMs: 60_000 });
      assert.deepEqual(await h.revocations.check({ tokenIds: ["tok-1", "tok-2"], tokensIssuedAt: h.now() + 10_000 }), rec);
      assert.equal(await h.revocations.check({ tokenIds: ["tok-1", "tok-3"], tokensIssuedAt: 0 }), null);
    });

    run("checking order is session, agent, user, client, jti", async (h) => {
      const sid = newSessionId();
      const at = h.now();
      await h.revocations.revoke({ kind: "jti", value: "j", at, ttlMs: 60_000 });
      await h.revocations.revoke({ kind: "client", value: "c", at, ttlMs: 60_000 });
      const agent = await h.revocations.revoke({ kind: "agent", value: "a", at, ttlMs: 60_000 });
      const subjects = { agentId: "a", clientId: "c", tokenIds: ["j"], tokensIssuedAt: at };
      assert.deepEqual(await h.revocations.check(subjects), agent);
      const session = await h.revocations.revoke({ kind: "session", value: sid, at, ttlMs: 60_000 });
      assert.deepEqual(await h.revocations.check({ ...subjects, sessionId: sid }), session);
    });

    run("revocation records expire by themselves", async (h) => {
      await h.revocations.revoke({ kind: "agent", value: "a", at: h.now(), ttlMs: TTL });
      assert.notEqual(await h.revocations.check({ agentId: "a", tokensIssuedAt: 0 }), null);
      await h.advance(TTL + 200);
      assert.equal(await h.revocations.check({ agentId: "a", tokensIssuedAt: 0 }), null);
    });

    run("revoking twice keeps the later time and the longer life", async (h) => {
      const at = h.now();
      await h.revocations.revoke({ kind: "user", value: "i#s", at, ttlMs: TTL });
      const second = await h.revocations.revoke({ kind: "user", value: "i#s", at: at - 5000, ttlMs: 60_000 });
      assert.equal(second.at, at, "the later revocation time wins");
      await h.advance(TTL + 200);
      assert.deepEqual(await h.revocations.check({ user: "i#s", tokensIssuedAt: at }), { kind: "user", value: "i#s", at });
    });

    run("bad revocations are INVALID_REQUEST", async (h) => {
      await rejectsWith(h.revocations.revoke({ kind: "group" as "agent", value: "a", at: 1, ttlMs: 1000 }), "INVALID_REQUEST");
      await rejectsWith(h.revocations.revoke({ kind: "agent", value: "", at: 1, ttlMs: 1000 }), "INVALID_REQUEST");
      await rejectsWith(h.revocations.revoke({ kind: "agent", value: "a", at: 1, ttlMs: 0 }), "INVALID_REQUEST");
      await rejectsWith(h.revocations.revoke({ kind: "session", value: "nope", at: 1, ttlMs: 1000 }), "INVALID_REQUEST");
      await rejectsWith(h.revocations.check({ sessionId: "{bad}" }), "INVALID_REQUEST");
    });

    run("revocations reach a subscriber on another replica; unsubscribe stops them", async (h) => {
      const events: RevocationEvent[] = [];
      const unsubscribe = await h.otherReplicaRevocations.subscribe((e) => events.push(e));
      const rec = await h.revocations.revoke({ kind: "agent", value: "a", at: h.now(), ttlMs: 60_000 });
      const start = Date.now();
      while (events.length === 0 && Date.now() - start < 2000) await new Promise((r) => setTimeout(r, 2));
      assert.deepEqual(events, [{ type: "revoked", record: rec }]);
      await unsubscribe();
      await h.revocations.revoke({ kind: "agent", value: "b", at: h.now(), ttlMs: 60_000 });
      await new Promise((r) => setTimeout(r, 100));
      assert.equal(events.length, 1);
    });
  });

  describe(`${name}: one load per decision`, () => {
    run("loadForDecision returns the session and no revocation", async (h) => {
      const s = newSession(h, 60_000);
      await h.sessions.create(s);
      await h.sessions.appendCall(s.id, { tool: "read_file", labels: ["sensitive"], risk: 3 });
      const state = await h.reader.loadForDecision(s.id, {
        agentId: binding.agentId,
        user: userRef(binding.userIssuer, binding.userSubject),
        clientId: binding.clientId,
        tokenIds: ["j1", "j2"],
        tokensIssuedAt: h.now(),
      });
      assert.deepEqual(state, { session: await h.sessions.get(s.id), revocation: null });
      assert.deepEqual(state.session?.facts, { callCount: 1, tools: ["read_file"], labels: ["sensitive"], riskTotal: 3 });
    });

    run("loadForDecision reports revocations, including of sessions created before them", async (h) => {
      const s = newSession(h, 60_000);
      await h.sessions.create(s);
      await h.advance(20);
      const rec = await h.revocations.revoke({ kind: "agent", value: binding.agentId, at: h.now(), ttlMs: 60_000 });
      await h.advance(20);
      const fresh = { agentId: binding.agentId, tokenIds: ["j"], tokensIssuedAt: h.now() };
      // new tokens, but the session predates the revocation: refused
      assert.deepEqual((await h.reader.loadForDecision(s.id, fresh)).revocation, rec);
      // a session opened after the revocation, with new tokens: accepted
      const later = newSession(h, 60_000);
      await h.sessions.create(later);
      const ok = await h.reader.loadForDecision(later.id, fresh);
      assert.equal(ok.revocation, null);
      assert.equal(ok.session?.id, later.id);
      // a session revocation
      const sr = await h.revocations.revoke({ kind: "session", value: later.id, at: h.now(), ttlMs: 60_000 });
      assert.deepEqual((await h.reader.loadForDecision(later.id, fresh)).revocation, sr);
      // a jti revocation, and no session at all
      const jr = await h.revocations.revoke({ kind: "jti", value: "j", at: h.now(), ttlMs: 60_000 });
      assert.deepEqual(await h.reader.loadForDecision(undefined, { tokenIds: ["j"] }), { session: undefined, revocation: jr });
      // an unknown session
      assert.deepEqual(await h.reader.loadForDecision(newSessionId(), { agentId: "other", tokensIssuedAt: h.now() }), {
        session: undefined,
        revocation: null,
      });
    });
  });
}
