/**
 * One behavioural suite for every queryable audit sink (memory ring, Redis stream): filters,
 * paging, stability while records arrive, time ranges, get.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import type { DecisionRecord } from "../../src/audit/decision-record.js";
import { PdpError } from "../../src/errors.js";
import type { AuditFilter, AuditReader, AuditSink, StoredRecord } from "../../src/audit/types.js";
import { AGENTS, CLIENTS, SERVERS, SESSIONS, TOOLS, USERS, mixedRecords } from "./fixtures.js";

/** What the suite needs of an implementation. */
export interface ReaderFixture {
  readonly sink: AuditSink & AuditReader;
  close(): Promise<void>;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Every page of a query, concatenated. */
export async function queryAllPages(reader: AuditReader, filter: AuditFilter, limit = 50): Promise<StoredRecord[]> {
  const out: StoredRecord[] = [];
  let cursor: string | undefined;
  for (let pages = 0; pages < 10_000; pages++) {
    const page = await reader.query(filter, { limit, ...(cursor && { cursor }) });
    assert.ok(page.records.length <= limit, "a page holds at most limit records");
    out.push(...page.records);
    cursor = page.nextCursor;
    if (!cursor) return out;
  }
  throw new Error("paging did not end");
}

function expected(records: readonly DecisionRecord[], pred: (r: DecisionRecord) => boolean): string[] {
  return records.filter(pred).map((r) => r.decisionId).reverse();
}

/** Runs the suite against `make()`. */
export function readerContract(name: string, make: () => Promise<ReaderFixture>): void {
  describe(`${name}: audit query`, () => {
    let fx: ReaderFixture;
    const written: DecisionRecord[] = mixedRecords(600);

    before(async () => {
      fx = await make();
      for (let i = 0; i < written.length; i += 100) await fx.sink.write(written.slice(i, i + 100));
    });
    after(async () => fx.close());

    const cases: [string, AuditFilter, (r: DecisionRecord) => boolean][] = [
      ["no filter", {}, () => true],
      ["session", { sessionId: SESSIONS[2] }, (r) => r.sessionId === SESSIONS[2]],
      ["user subject", { userSubject: USERS[1] }, (r) => r.userSubject === USERS[1]],
      ["user subject + issuer", { userSubject: USERS[0], userIssuer: "https://other-idp.example" }, (r) => r.userSubject === USERS[0] && r.userIssuer === "https://other-idp.example"],
      ["user issuer alone", { userIssuer: "https://other-idp.example" }, (r) => r.userIssuer === "https://other-idp.example"],
      ["agent", { agentId: AGENTS[1] }, (r) => r.agentId === AGENTS[1]],
      ["client", { clientId: CLIENTS[0] }, (r) => r.clientId === CLIENTS[0]],
      ["server", { serverId: SERVERS[1] }, (r) => r.serverId === SERVERS[1]],
      ["tool", { tool: TOOLS[3] }, (r) => r.tool === TOOLS[3]],
      ["decision", { decision: "DENY" }, (r) => r.decision === "DENY"],
      ["reason code", { reasonCode: "POLICY_DENIED" }, (r) => r.reasonCode === "POLICY_DENIED"],
      ["policy id", { policyId: "chain-rule" }, (r) => r.reasons.some((x) => x.policyId === "chain-rule")],
      ["kind", { kind: "filter_tools" }, (r) => r.kind === "filter_tools"],
      ["first seen", { firstSeen: true }, (r) => (r.firstSeen?.length ?? 0) > 0],
      [
        "several at once",
        { sessionId: SESSIONS[0], decision: "DENY", tool: TOOLS[1] },
        (r) => r.sessionId === SESSIONS[0] && r.decision === "DENY" && r.tool === TOOLS[1],
      ],
      ["no match", { tool: "no-such-tool" }, () => false],
    ];
    for (const [label, filter, pred] of cases) {
      test(`filter: ${label} — exactly the matching records, newest first, across pages`, async () => {
        const got = await queryAllPages(fx.sink, filter, 37);
        const want = expected(written, pred);
        if (label !== "no match") assert.ok(want.length > 0, "the fixture has matches for this filter");
        assert.deepEqual(
          got.map((s) => s.record.decisionId),
          want,
        );
        const seqs = got.map((s) => s.record.sequence);
        assert.deepEqual(seqs, [...seqs].sort((a, b) => b - a), "newest (highest sequence) first");
      });
    }

    test("page sizes: 1, 100, 1000 all give the same list; bad sizes and cursors are INVALID_REQUEST", async () => {
      const want = expected(written, () => true);
      for (const limit of [1, 100, 1000]) {
        if (limit === 1) {
          const first = await fx.sink.query({}, { limit: 1 });
          assert.equal(first.records.length, 1);
          assert.ok(first.nextCursor);
          continue;
        }
        assert.deepEqual((await queryAllPages(fx.sink, {}, limit)).map((s) => s.record.decisionId), want);
      }
      for (const limit of [0, 1001, 2.5])
        await assert.rejects(fx.sink.query({}, { limit }), (e: unknown) => e instanceof PdpError && e.code === "INVALID_REQUEST");
      await assert.rejects(fx.sink.query({}, { cursor: "not-a-cursor" }), (e: unknown) => e instanceof PdpError && e.code === "INVALID_REQUEST");
    });

    test("paging is stable while new records arrive (newer ones never shift older pages)", async () => {
      const filter: AuditFilter = { decision: "ALLOW" };
      const before = await queryAllPages(fx.sink, filter, 1000);
      const p1 = await fx.sink.query(filter, { limit: 25 });
      const fresh = mixedRecords(90, 10_000);
      await fx.sink.write(fresh);
      const p2 = await fx.sink.query(filter, { limit: 25, cursor: p1.nextCursor! });
      await fx.sink.write(mixedRecords(40, 20_000));
      const p3 = await fx.sink.query(filter, { limit: 25, cursor: p2.nextCursor! });
      assert.deepEqual(
        [...p1.records, ...p2.records, ...p3.records].map((s) => s.record.decisionId),
        before.slice(0, 75).map((s) => s.record.decisionId),
      );
      // The scan path (no indexed field) too.
      const allAuth = await queryAllPages(fx.sink, { kind: "authorize" }, 1000);
      const q1 = await fx.sink.query({ kind: "authorize" }, { limit: 10 });
      await fx.sink.write(mixedRecords(30, 30_000));
      const q2 = await fx.sink.query({ kind: "authorize" }, { limit: 10, cursor: q1.nextCursor! });
      assert.deepEqual(
        [...q1.records, ...q2.records].map((s) => s.record.decisionId),
        allAuth.slice(0, 20).map((s) => s.record.decisionId),
      );
      // Newest page now starts with the freshest records.
      const newest = await fx.sink.query({}, { limit: 1 });
      assert.ok(newest.records[0]!.record.sequence > p1.records[0]!.record.sequence);
    });

    test("time range: since/until select the records stored in between", async () => {
      const a = mixedRecords(20, 40_000);
      const b = mixedRecords(30, 50_000);
      const c = mixedRecords(20, 60_000);
      await fx.sink.write(a);
      await sleep(15);
      const t1 = new Date();
      await sleep(5);
      await fx.sink.write(b);
      await sleep(5);
      const t2 = new Date();
      await sleep(15);
      await fx.sink.write(c);
      const got = await queryAllPages(fx.sink, { since: t1, until: t2 }, 7);
      assert.deepEqual(
        got.map((s) => s.record.decisionId),
        b.map((r) => r.decisionId).reverse(),
      );
      const withFilter = await queryAllPages(fx.sink, { since: t1, until: t2, decision: "DENY" }, 3);
      assert.deepEqual(
        withFilter.map((s) => s.record.decisionId),
        b.filter((r) => r.decision === "DENY").map((r) => r.decisionId).reverse(),
      );
      assert.deepEqual((await fx.sink.query({ since: new Date(Date.now() + 60_000) })).records, []);
    });

    test("get: by decision id; unknown id is undefined", async () => {
      const r = written[123]!;
      const got = await fx.sink.get(r.decisionId);
      assert.ok(got);
      assert.equal(got.record.decisionId, r.decisionId);
      assert.equal(got.record.tool, r.tool);
      assert.equal(got.record.sequence, 124);
      assert.match(got.entryId, /^\d+-124$/);
      assert.equal(await fx.sink.get("00000000-0000-0000-0000-000000000000"), undefined);
    });
  });
}
