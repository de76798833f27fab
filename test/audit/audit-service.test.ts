import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { ChainedRecord } from "../../src/audit/decision-record.js";
import { verifyEntries } from "../../src/audit/hash-chain.js";
import { MemoryAuditSink } from "../../src/audit/memory-audit-sink.js";
import { MemoryPolicyArchive, RedisPolicyArchive, explainRecord, type PolicyArchive } from "../../src/audit/policy-archive.js";
import { auditCommand } from "../../src/cli/run-cli.js";
import { packageRoot } from "../../src/config/load-config.js";
import { PdpError } from "../../src/errors.js";
import { AuditService } from "../../src/gen/mcppdp/v1/audit_pb.js";
import { Decision, ReasonCode } from "../../src/gen/mcppdp/v1/common_pb.js";
import { createClient } from "../../src/grpc/client.js";
import { auditHandlers } from "../../src/server/audit-service.js";
import type { ServerSurfaceCall } from "../../src/server/caller-auth.js";
import { implement } from "../../src/server/unary.js";
import { deleteKeysUnder, testClient, uniquePrefix } from "../support/redis.js";
import { captureLogger, mixedRecord, mixedRecords } from "./fixtures.js";

const VERSION = "abcdef0123456789";

/** The bundled policy files, as the lead's loader would hand them to `PolicyArchive.put`. */
function bundledPolicies(): { path: string; text: string }[] {
  const dir = path.join(packageRoot, "cedar", "policies");
  return readdirSync(dir)
    .filter((f) => f.endsWith(".cedar"))
    .map((f) => ({ path: `policies/${f}`, text: readFileSync(path.join(dir, f), "utf8") }));
}

/** Fake caller authentication: `Bearer operator` is an operator, `Bearer pep` is not, none is refused. */
async function fakeAuthenticate(call: ServerSurfaceCall) {
  const h = String(call.metadata.get("authorization")[0] ?? "");
  if (h === "Bearer operator") return { id: "ops@example", via: "jwt" as const, operator: true };
  if (h === "Bearer pep") return { id: "https://docs.example.com/mcp", via: "jwt" as const, operator: false };
  throw new PdpError("CALLER_UNAUTHORIZED", "caller credentials required");
}

describe("AuditService over gRPC (real grpc-js server on 127.0.0.1:0, real client)", () => {
  let server: grpc.Server;
  let address: string;
  let sink: MemoryAuditSink;
  const records = mixedRecords(250);
  const archive = new MemoryPolicyArchive();
  const client = () => createClient(AuditService, address);
  const operator = { bearer: "operator" };

  before(async () => {
    sink = new MemoryAuditSink();
    records[5] = { ...records[5]!, decision: "DENY", reasonCode: "POLICY_DENIED", reasons: [{ policyId: "chain-sensitive-then-egress", reason: "no egress after sensitive" }] };
    await sink.write(records);
    await archive.put(VERSION, bundledPolicies());
    server = new grpc.Server();
    implement(server, AuditService, auditHandlers({ audit: sink, archive }), { authenticate: fakeAuthenticate, logger: captureLogger().logger });
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
    );
    address = `127.0.0.1:${port}`;
  });
  after(() => server.forceShutdown());

  test("only operators: a PEP is PERMISSION_DENIED, no credentials is refused, for every method", async () => {
    const c = client();
    try {
      for (const bearer of ["pep", undefined]) {
        const opts = bearer ? { bearer } : {};
        for (const call of [
          () => c.queryDecisions({}, opts),
          () => c.getDecision({ decisionId: records[0]!.decisionId }, opts),
          () => c.verifyAuditChain({}, opts),
          () => c.explainDecision({ decisionId: records[0]!.decisionId }, opts),
        ]) {
          await assert.rejects(call(), (e: grpc.ServiceError) => e.code === grpc.status.PERMISSION_DENIED);
        }
      }
    } finally {
      c.close();
    }
  });

  test("QueryDecisions: filters, paging, newest first, records carry their chain fields and canonical JSON", async () => {
    const c = client();
    try {
      const deny = await c.queryDecisions({ decision: Decision.DENY, reasonCode: ReasonCode.POLICY_DENIED, pageSize: 10 }, operator);
      assert.equal(deny.records.length, 10);
      assert.ok(deny.nextPageToken);
      assert.ok(deny.records.every((r) => r.decision === Decision.DENY && r.reasonCode === ReasonCode.POLICY_DENIED));
      const seqs = deny.records.map((r) => Number(r.sequence));
      assert.deepEqual(seqs, [...seqs].sort((a, b) => b - a));
      const next = await c.queryDecisions({ decision: Decision.DENY, reasonCode: ReasonCode.POLICY_DENIED, pageSize: 10, pageToken: deny.nextPageToken }, operator);
      assert.ok(Number(next.records[0]!.sequence) < seqs[9]!);
      const r = deny.records[0]!;
      assert.equal(r.hash.length, 64);
      assert.equal((JSON.parse(r.canonicalJson) as ChainedRecord).hash, r.hash);
      const bySession = await c.queryDecisions({ sessionId: "s-2", userSubject: "carol", pageSize: 1000 }, operator);
      assert.equal(bySession.records.length, records.filter((x) => x.sessionId === "s-2" && x.userSubject === "carol").length);
      const firstSeen = await c.queryDecisions({ firstSeen: true, pageSize: 1000 }, operator);
      assert.equal(firstSeen.records.length, records.filter((x) => (x.firstSeen?.length ?? 0) > 0).length);
      assert.ok(firstSeen.records.length > 0 && firstSeen.records.every((x) => x.firstSeen.includes("client_for_user")), "first_seen on the wire");
      const since = await c.queryDecisions({ startTime: timestampFromDate(new Date(Date.now() + 60_000)) }, operator);
      assert.equal(since.records.length, 0);
      await assert.rejects(c.queryDecisions({ pageSize: 5000 }, operator), (e: grpc.ServiceError) => e.code === grpc.status.INVALID_ARGUMENT);
      await assert.rejects(c.queryDecisions({ pageToken: "garbage" }, operator), (e: grpc.ServiceError) => e.code === grpc.status.INVALID_ARGUMENT);
    } finally {
      c.close();
    }
  });

  test("GetDecision and ExplainDecision: the record, and its determining policy's text at its version; unknown id is NOT_FOUND", async () => {
    const c = client();
    try {
      const got = await c.getDecision({ decisionId: records[7]!.decisionId }, operator);
      assert.equal(got.record!.decisionId, records[7]!.decisionId);
      assert.equal(got.record!.tool, records[7]!.tool);
      await assert.rejects(c.getDecision({ decisionId: "nope" }, operator), (e: grpc.ServiceError) => e.code === grpc.status.NOT_FOUND);
      const x = await c.explainDecision({ decisionId: records[5]!.decisionId }, operator);
      assert.equal(x.versionArchived, true);
      assert.equal(x.policies.length, 1);
      assert.equal(x.policies[0]!.policyId, "chain-sensitive-then-egress");
      assert.equal(x.policies[0]!.file, "policies/chain-rule.cedar");
      assert.match(x.policies[0]!.text, /^@id\("chain-sensitive-then-egress"\)[\s\S]*forbid[\s\S]*;$/);
    } finally {
      c.close();
    }
  });

  test("VerifyAuditChain: ok on an untouched store; names the modified record after tampering", async () => {
    const c = client();
    try {
      const ok = await c.verifyAuditChain({}, operator);
      assert.equal(ok.ok, true, ok.problem);
      assert.equal(Number(ok.checked), 250);
      sink.tamper(100, (r) => ({ ...r, userSubject: "mallory" }));
      const bad = await c.verifyAuditChain({}, operator);
      assert.equal(bad.ok, false);
      assert.equal(Number(bad.firstBadSequence), 100);
      assert.equal(bad.firstBadDecisionId, records[99]!.decisionId);
      assert.match(bad.problem, /^modified:/);
      sink.tamper(100, (r) => ({ ...r, userSubject: records[99]!.userSubject }));
      assert.equal((await c.verifyAuditChain({}, operator)).ok, true);
    } finally {
      c.close();
    }
  });

  describe("CLI: mcp-pdp audit … against the same server", () => {
    async function run(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
      let out = "";
      let err = "";
      const code = await auditCommand([...argv, "--address", address, "--token", "operator"], { out: (t) => void (out += t), err: (t) => void (err += t) });
      return { code, out, err };
    }

    test("query: a readable table by default, NDJSON with --json; filters apply", async () => {
      const table = await run("query", "--since", "1h", "--decision", "deny", "--tool", "search", "--limit", "5");
      assert.equal(table.code, 0);
      const rows = table.out.trim().split("\n");
      assert.match(rows[0]!, /^TIME\s+SEQ\s+DECISION\s+REASON\s+KIND\s+TOOL\s+USER\s+AGENT\s+SESSION\s+DECISION ID$/);
      assert.equal(rows.length, 6);
      assert.ok(rows.slice(1).every((l) => /\sDENY\s/.test(l) && /\ssearch\s/.test(l)));
      const json = await run("query", "--decision", "allow", "--user", "bob", "--json", "--limit", "500");
      const lines = json.out.trim().split("\n").map((l) => JSON.parse(l) as ChainedRecord);
      assert.equal(lines.length, records.filter((r) => r.decision === "ALLOW" && r.userSubject === "bob").length);
      assert.ok(lines.every((r) => r.decision === "ALLOW" && r.userSubject === "bob"));
    });

    test("get, explain, verify, export (and the export verifies offline)", async () => {
      const got = await run("get", records[5]!.decisionId);
      assert.match(got.out, /decision\s+DENY POLICY_DENIED/);
      const ex = await run("explain", records[5]!.decisionId);
      assert.match(ex.out, /── chain-sensitive-then-egress {2}\(policies\/chain-rule\.cedar:\d+, version abcdef0123456789\)/);
      assert.match(ex.out, /forbid/);
      const missing = await run("get", "no-such-decision");
      assert.equal(missing.code, 1);
      const v = await run("verify");
      assert.equal(v.code, 0);
      assert.match(v.out, /^chain OK: 250 record\(s\), sequence 1…250, head [0-9a-f]{64}/);
      const exp = await run("export");
      const exported = exp.out.trim().split("\n").map((l) => JSON.parse(l) as ChainedRecord);
      assert.equal(exported.length, 250);
      const offline = await verifyEntries(exported.reverse().map((record) => ({ entryId: `export-${record.sequence}`, record })));
      assert.equal(offline.ok, true, offline.problem?.message);
      sink.tamper(42, () => undefined);
      const broken = await run("verify");
      assert.equal(broken.code, 1);
      assert.match(broken.out, /^chain BROKEN at sequence 42 \(decision [0-9a-f-]{36}, entry \d+-43\): missing: record 42 is missing/);
    });

    test("tail: the newest records oldest first, then follows new ones", async () => {
      let out = "";
      const ac = new AbortController();
      const done = auditCommand(["tail", "--limit", "3", "--follow", "--interval", "20", "--json", "--address", address, "--token", "operator"], {
        out: (t) => void (out += t),
        err: () => {},
        signal: ac.signal,
      });
      // Wait for what is printed, not for a fixed time: on a busy machine the first page can take longer.
      const lines = async (n: number) => {
        for (let i = 0; i < 600 && out.trim().split("\n").filter(Boolean).length < n; i++) await new Promise((r) => setTimeout(r, 50));
      };
      await lines(3);
      const fresh = [mixedRecord(9001), mixedRecord(9002)];
      await sink.write(fresh);
      await lines(5);
      ac.abort();
      assert.equal(await done, 0);
      const seen = out.trim().split("\n").map((l) => JSON.parse(l) as ChainedRecord);
      assert.equal(seen.length, 5);
      assert.deepEqual(seen.slice(3).map((r) => r.decisionId), fresh.map((r) => r.decisionId));
      const seqs = seen.map((r) => r.sequence);
      assert.deepEqual(seqs, [...seqs].sort((a, b) => a - b));
    });
  });
});

describe("policy archive", () => {
  async function contract(archive: PolicyArchive) {
    assert.equal(await archive.get("0000000000000000"), undefined);
    await archive.put(VERSION, bundledPolicies());
    await archive.put("1111111111111111", [{ path: "policies/x.cedar", text: '@id("tool-allowlist")\n@reason("old text")\npermit(principal, action, resource);' }]);
    const old = await explainRecord(mixedRecord(1, { policyVersion: "1111111111111111" }), archive);
    assert.equal(old.versionArchived, true);
    assert.match(old.policies[0]!.text, /old text/);
    const gone = await explainRecord(mixedRecord(1, { policyVersion: "2222222222222222" }), archive);
    assert.equal(gone.versionArchived, false);
    assert.equal(gone.policies[0]!.text, "");
  }

  test("memory: keeps the newest versions only", async () => {
    const a = new MemoryPolicyArchive({ maxVersions: 2 });
    await contract(a);
    await a.put("3333333333333333", []);
    assert.equal(await a.get(VERSION), undefined);
    assert.ok(await a.get("1111111111111111"));
  });

  test("redis: shared by replicas, expiring after retention", async () => {
    const client = await testClient();
    const keyPrefix = uniquePrefix("policy-archive");
    try {
      const a = new RedisPolicyArchive({ client, keyPrefix, retentionMs: 60_000 });
      await contract(a);
      const other = new RedisPolicyArchive({ client, keyPrefix });
      assert.equal((await other.get(VERSION))?.length, bundledPolicies().length);
      const ttl = await client.pttl(`${keyPrefix}policy-archive:${VERSION}`);
      assert.ok(ttl > 0 && ttl <= 60_000);
    } finally {
      await deleteKeysUnder(client, keyPrefix);
      await client.quit();
    }
  });
});
