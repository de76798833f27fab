/**
 * Audit query benchmark: loads N decision records (default 1,000,000) into a Redis audit stream
 * through the real append script, then times query pages of 100 for selective and broad filters.
 *
 *   node --import tsx bench/audit-query.ts [--records 1000000] [--runs 50]
 *
 * Uses REDIS_URL (default redis://127.0.0.1:6379) under a fresh `test:` key prefix, deleted at the end.
 */
import { randomUUID } from "node:crypto";
import { parseArgs } from "node:util";
import type { DecisionRecord } from "../src/audit/decision-record.js";
import { RedisAuditSink } from "../src/audit/redis-audit-sink.js";
import type { AuditFilter } from "../src/audit/types.js";
import { deleteKeysUnder, testClient, uniquePrefix } from "../test/support/redis.js";

const { values } = parseArgs({ options: { records: { type: "string", default: "1000000" }, runs: { type: "string", default: "50" } } });
const N = Number(values.records);
const RUNS = Number(values.runs);

function record(i: number): DecisionRecord {
  const deny = i % 5 === 0;
  return {
    time: new Date().toISOString(),
    decisionId: randomUUID(),
    instance: "bench:1",
    kind: "authorize",
    sessionId: `session-${i % 10_000}`,
    userIssuer: "https://idp.example",
    userSubject: `user-${i % 1000}`,
    agentId: `spiffe://example.org/agent/${i % 50}`,
    clientId: `client-${i % 10}`,
    serverId: `https://server-${i % 20}.example.com/mcp`,
    idp: "https://idp.example",
    caller: `https://server-${i % 20}.example.com/mcp`,
    action: "call_tool",
    tool: `tool-${i % 100}`,
    purpose: "research",
    argumentsDigest: "a".repeat(64),
    decision: deny ? "DENY" : "ALLOW",
    reasonCode: deny ? (i % 3 === 0 ? "POLICY_DENIED" : "NO_PERMIT") : "ALLOWED",
    reasons: deny ? [{ policyId: `policy-${i % 40}`, reason: "denied by a forbid policy" }] : [{ policyId: "tool-allowlist", reason: "the tool is on the allowlist" }],
    policyVersion: "abcdef0123456789",
    latencyUs: 120,
  };
}

const client = await testClient(undefined, { commandTimeoutMs: 10_000 });
const keyPrefix = uniquePrefix("bench-audit");
const sink = new RedisAuditSink({ client, keyPrefix, maxLen: 0, retentionMs: 86_400_000 });
const memBefore = Number(/used_memory:(\d+)/.exec(await client.info("memory"))![1]);

try {
  // Load: one append-script call per batch of 256 (the real write path), 4 batches in flight
  // would conflict on the chain head, so batches go one after another.
  const started = performance.now();
  let ids: string[] = [];
  for (let i = 0; i < N; i += 256) {
    const batch = Array.from({ length: Math.min(256, N - i) }, (_, j) => record(i + j));
    if (i % 100_000 < 256) ids.push(batch[0]!.decisionId);
    await sink.write(batch);
    if (i % 100_000 < 256) process.stderr.write(`loaded ${i}\n`);
  }
  const loadS = (performance.now() - started) / 1000;
  const memAfter = Number(/used_memory:(\d+)/.exec(await client.info("memory"))![1]);
  console.log(`loaded ${N} records in ${loadS.toFixed(1)} s (${Math.round(N / loadS)} records/s through the append script)`);
  console.log(`redis memory: ${((memAfter - memBefore) / 1024 / 1024).toFixed(0)} MiB (${Math.round((memAfter - memBefore) / N)} bytes per record, stream + indexes + id keys)`);

  const cases: [string, AuditFilter][] = [
    ["one session (~100 of 1M)", { sessionId: "session-4242" }],
    ["one user (~1,000 of 1M)", { userSubject: "user-77" }],
    ["one user + issuer", { userSubject: "user-77", userIssuer: "https://idp.example" }],
    ["decision DENY (~200,000)", { decision: "DENY" }],
    ["tool + DENY + reason", { tool: "tool-15", decision: "DENY", reasonCode: "POLICY_DENIED" }],
    ["policy id (~5,000)", { policyId: "policy-15" }],
    ["agent + last hour", { agentId: "spiffe://example.org/agent/7", since: new Date(Date.now() - 3_600_000) }],
    ["no filter (newest 100)", {}],
    ["kind (no index: stream scan)", { kind: "authorize" }],
  ];
  const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;
  console.log(`\npage of 100, ${RUNS} runs each (first page, then page 5 by cursor):`);
  console.log(`${"filter".padEnd(32)} ${"p50 ms".padStart(8)} ${"p95 ms".padStart(8)} ${"page5 p50".padStart(10)} records`);
  for (const [label, filter] of cases) {
    const t: number[] = [];
    const t5: number[] = [];
    let n = 0;
    for (let r = 0; r < RUNS; r++) {
      const a = performance.now();
      const page = await sink.query(filter, { limit: 100 });
      t.push(performance.now() - a);
      n = page.records.length;
      let cursor = page.nextCursor;
      for (let p = 2; p <= 5 && cursor; p++) {
        const b = performance.now();
        const next = await sink.query(filter, { limit: 100, cursor });
        if (p === 5) t5.push(performance.now() - b);
        cursor = next.nextCursor;
      }
    }
    console.log(`${label.padEnd(32)} ${pct(t, 0.5).toFixed(2).padStart(8)} ${pct(t, 0.95).toFixed(2).padStart(8)} ${(t5.length ? pct(t5, 0.5).toFixed(2) : "-").padStart(10)} ${n}`);
  }
  const g: number[] = [];
  for (let r = 0; r < RUNS; r++) {
    const a = performance.now();
    await sink.get(ids[r % ids.length]!);
    g.push(performance.now() - a);
  }
  console.log(`${"get(decisionId)".padEnd(32)} ${pct(g, 0.5).toFixed(2).padStart(8)} ${pct(g, 0.95).toFixed(2).padStart(8)}`);
  const v0 = performance.now();
  const v = await sink.verifyChain();
  console.log(`\nverifyChain: ${v.ok ? "ok" : "BROKEN"}, ${v.checked} records in ${((performance.now() - v0) / 1000).toFixed(1)} s`);
} finally {
  const d0 = performance.now();
  const n = await deleteKeysUnder(client, keyPrefix);
  process.stderr.write(`deleted ${n} keys in ${((performance.now() - d0) / 1000).toFixed(1)} s\n`);
  await client.quit();
}
