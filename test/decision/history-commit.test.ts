/**
 * An ALLOW's history append committed with its durable record (audit.required, standalone Redis):
 * both or neither. Driven through the transport-neutral core built as the composition root builds
 * it (real Redis stores on the shared test Redis under a unique prefix, the Redis audit stream that
 * carries the append, `carriedHistory`); the state reader is the real one, and the test acts on the
 * session after the load and before the commit.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { pino } from "pino";
import { carriedHistory } from "../../src/app.js";
import { createAuditLog } from "../../src/audit/audit-log.js";
import type { DecisionRecord } from "../../src/audit/decision-record.js";
import { RedisAuditSink } from "../../src/audit/redis-audit-sink.js";
import type { AuditLog } from "../../src/audit/types.js";
import { loadConfig, packageRoot } from "../../src/config/load-config.js";
import { createDecisionCore, type DecisionCore } from "../../src/decision/decision-core.js";
import { mintDevToken } from "../../src/identity/dev-issuer.js";
import { createTokenVerifier } from "../../src/identity/token-verifier.js";
import type { TokenVerifier } from "../../src/identity/types.js";
import { createPolicyManager, type PolicyManager } from "../../src/policy/policy-manager.js";
import { RedisSessionStore } from "../../src/session/redis-session-store.js";
import { createStateStores, type StateStores } from "../../src/session/state-stores.js";
import type { DecisionStateReader } from "../../src/session/types.js";
import { deleteKeysUnder, REDIS_URL, testClient, uniquePrefix } from "../support/redis.js";
import { ctx, rigSettings } from "./support/core-rig.js";
import path from "node:path";

const SERVER = "https://docs.example.com/mcp";
const logger = pino({ level: "silent" });

/** One PDP's decision core on the shared Redis under `prefix`, with a hook between the state load and the commit. */
interface Replica {
  readonly core: DecisionCore;
  readonly stores: StateStores;
  readonly audit: AuditLog;
  readonly sink: RedisAuditSink;
  /** Every record any sink was given (the optional capture sink). */
  readonly records: DecisionRecord[];
  /** Runs once, after the next state load and before the decision goes on. */
  afterLoad?: () => Promise<void>;
  close(): Promise<void>;
}

let policies: PolicyManager;
let verifier: TokenVerifier;
before(() => {
  policies = createPolicyManager({ dir: path.join(packageRoot, "cedar"), logger, watch: false });
  const config = loadConfig({ env: {}, overrides: {} });
  verifier = createTokenVerifier(config.identity, { operators: [] });
});
after(async () => {
  policies.close();
  await verifier.close();
});

async function replica(prefix: string): Promise<Replica> {
  const config = loadConfig({
    env: {},
    overrides: { sessions: { required: true }, store: { backend: "redis", redis: { url: REDIS_URL, keyPrefix: prefix } }, audit: { required: true, sinks: ["redis"], durableTimeoutMs: 1500 } },
  });
  const stores = createStateStores(config.store, logger);
  await new Promise<void>((resolve) => (stores.healthy() ? resolve() : stores.onHealthChange((h) => h && resolve())));
  const sink = new RedisAuditSink({ client: stores.redis!, keyPrefix: prefix, attached: stores.carriedAppend!.script, maxAttempts: 1000 });
  const records: DecisionRecord[] = [];
  const capture = { name: "capture", write: async (batch: readonly DecisionRecord[]) => void records.push(...batch), close: async () => {} };
  const audit = createAuditLog({ sinks: [{ sink, required: true }, { sink: capture, required: false }], logger, durableTimeoutMs: 1500 });
  const carryAppend = carriedHistory(config, stores, audit);
  assert.ok(carryAppend, "standalone Redis, audit.required, one required Redis sink: the append is carried");
  const r: Replica = {
    core: undefined as unknown as DecisionCore,
    stores,
    audit,
    sink,
    records,
    async close() {
      await audit.close();
      await stores.close();
    },
  };
  const state: DecisionStateReader = {
    async loadForDecision(id, subjects) {
      const loaded = await stores.reader.loadForDecision(id, subjects);
      const hook = r.afterLoad;
      r.afterLoad = undefined;
      await hook?.();
      return loaded;
    },
  };
  (r as { core: DecisionCore }).core = createDecisionCore({
    verifier,
    policy: () => policies.current(),
    state,
    sessions: stores.sessions,
    revocations: stores.revocations,
    approvals: stores.approvals,
    definitions: stores.definitions,
    audit,
    carryAppend,
    settings: rigSettings(config.identity.pdpAudience, { maxInFlight: 256, auditRequired: true }),
  });
  return r;
}

async function who() {
  return { userToken: await mintDevToken("user", { audience: SERVER }), workloadToken: await mintDevToken("workload"), clientId: "dev-client", serverId: SERVER, purpose: "research" };
}

async function open(r: Replica): Promise<string> {
  const opened = await r.core.openSession({ ...(await who()), tools: ["search_documents"], resources: [], prompts: [], ttlMs: 0 }, ctx());
  assert.equal(opened.outcome.allow, true, opened.outcome.message);
  return opened.value!.session!.id;
}

async function ask(r: Replica, sessionId: string) {
  return r.core.authorize({ ...(await who()), sessionId, action: "tool", tool: "search_documents", resourceUri: "", arguments: { query: "q" } }, ctx());
}

describe("history append with the durable record", { timeout: 60_000 }, () => {
  let prefix: string;
  let r: Replica;
  before(async () => {
    prefix = uniquePrefix("history-commit");
    r = await replica(prefix);
  });
  after(async () => {
    await r.close();
    const c = await testClient();
    try {
      await deleteKeysUnder(c, prefix);
    } finally {
      c.disconnect();
    }
  });

  for (const state of ["revoked", "ended"] as const) {
    test(`session ${state} between the load and the commit: DENY SESSION_REVOKED, its DENY record stored, no ALLOW record, no history entry`, async () => {
      const sessionId = await open(r);
      const ok = await ask(r, sessionId);
      assert.equal(ok.outcome.allow, true, ok.outcome.message);
      r.afterLoad = async () => void (await r.stores.sessions.end(sessionId, state));
      const res = await ask(r, sessionId);
      assert.equal(res.outcome.allow, false);
      assert.equal(res.outcome.reasonCode, "SESSION_REVOKED");
      assert.equal(res.error?.code, "SESSION_REVOKED");
      const stored = await r.audit.get(res.decisionId);
      assert.equal(stored?.record.decision, "DENY", "the DENY record is what the stream holds for this decision");
      assert.equal(stored?.record.reasonCode, "SESSION_REVOKED");
      await r.audit.flush();
      const mine = r.records.filter((x) => x.decisionId === res.decisionId);
      assert.deepEqual(mine.map((x) => [x.decision, x.reasonCode]), [["DENY", "SESSION_REVOKED"]], "one record, the outcome given — the other sinks too");
      const page = await r.audit.query({ sessionId, decision: "ALLOW", kind: "authorize" });
      assert.deepEqual(page.records.map((x) => x.record.decisionId), [ok.decisionId], "no ALLOW record for the refused call");
      const session = await r.stores.sessions.get(sessionId);
      assert.equal(session?.facts.callCount, 1, "no history entry for the refused call");
      assert.equal((await r.audit.verifyChain()).ok, true);
    });
  }

  test("the audit write fails: DENY AUDIT_UNAVAILABLE and no history entry", async () => {
    const sessionId = await open(r);
    await r.audit.flush();
    const c = await testClient();
    const head = `${prefix}{audit:decisions}:head`;
    const saved = await c.hgetall(head);
    try {
      // The chain head of the wrong type: the script fails before it writes anything.
      await c.del(head);
      await c.set(head, "not a hash");
      const res = await ask(r, sessionId);
      assert.equal(res.outcome.allow, false);
      assert.equal(res.outcome.reasonCode, "AUDIT_UNAVAILABLE");
      assert.equal((await r.stores.sessions.get(sessionId))?.facts.callCount, 0, "no history entry without its record");
      const page = await r.audit.query({ sessionId, decision: "ALLOW", kind: "authorize" }).catch(() => ({ records: [] }));
      assert.equal(page.records.length, 0);
    } finally {
      await c.del(head);
      await c.hset(head, saved);
      c.disconnect();
      await r.audit.flush(); // the backlog is written: the stream is healthy again for the next test
    }
    const deny = r.records.filter((x) => x.reasonCode === "AUDIT_UNAVAILABLE" && x.sessionId === sessionId);
    assert.equal(deny.length, 1, "the DENY AUDIT_UNAVAILABLE is recorded once the stream takes records again");
  });

  test("two replicas, concurrent ALLOWs in one session: every call appended exactly once with its record, the chain verifies", async () => {
    const other = await replica(prefix);
    try {
      const sessionId = await open(r);
      const results = await Promise.all(Array.from({ length: 24 }, (_, i) => ask(i % 2 ? other : r, sessionId)));
      for (const res of results) assert.equal(res.outcome.allow, true, res.outcome.message);
      assert.equal((await r.stores.sessions.get(sessionId))?.facts.callCount, 24);
      for (const res of results) assert.equal((await r.audit.get(res.decisionId))?.record.decision, "ALLOW");
      const v = await r.audit.verifyChain();
      assert.equal(v.ok, true, v.problem?.message);
    } finally {
      await other.close();
    }
  });

  test("a batch with several appends to one session and a budget: checked in order, the refused one replaced, nothing of it applied", async () => {
    const sessionId = await open(r);
    await r.audit.flush();
    const store = new RedisSessionStore({ client: r.stores.redis!, keyPrefix: prefix });
    const base = (await r.audit.get((await ask(r, sessionId)).decisionId))!.record;
    const { sequence: _s, prevHash: _p, hash: _h, chain: _c, ...plain } = base;
    const record = (id: string, decision: "ALLOW" | "DENY"): DecisionRecord => ({ ...plain, decisionId: id, decision, reasonCode: decision === "ALLOW" ? "ALLOWED" : "BUDGET_EXHAUSTED" });
    const call = { tool: "search_documents", labels: [], risk: 1 };
    const items = ["a", "b", "c"].map((id) => ({
      record: record(`${sessionId}-${id}`, "ALLOW"),
      attached: { attachment: store.carryAppend(sessionId, call, { maxCalls: 3 }), refused: () => record(`${sessionId}-${id}`, "DENY") },
    }));
    const refusals = await r.sink.writeAttached(items);
    assert.deepEqual(refusals, [undefined, undefined, "budget_exhausted"], "1 call so far, budget 3: two more fit");
    assert.equal((await store.get(sessionId))?.facts.callCount, 3);
    assert.deepEqual(
      await Promise.all(["a", "b", "c"].map(async (id) => (await r.audit.get(`${sessionId}-${id}`))?.record.decision)),
      ["ALLOW", "ALLOW", "DENY"],
    );
    assert.equal((await r.audit.verifyChain()).ok, true);
  });
});
