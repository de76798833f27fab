/**
 * `policy replay` speed (issue 16): records made by the real decision core (memory stores, the
 * shipped cedar/ grown to 200 policies; research sessions of 50 calls alternating search_documents
 * and read_document, so session facts vary), cloned to `--records` entries of the Redis audit
 * stream (fresh decision ids, the chain written by the real sink), the version archived; then
 * `mcp-pdp policy replay --redis` runs as a user runs it (the compiled CLI, a child process) under
 * a candidate that forbids `--candidate` (default read_document: half the ALLOWs flip; a tool the
 * traffic never calls, e.g. send_message, flips none), with the control from the archive.
 * Prints records/s (wall) and the child's CPU per record.
 *
 *   npm run bench -- --replay [--records 100000] [--control-sample SHARE] [--candidate TOOL] [--profile DIR]
 * `--profile DIR`: the CLI runs with `--cpu-prof` (a .cpuprofile per thread in DIR).
 * Redis: REDIS_URL (default redis://127.0.0.1:6379), keys under `bench:<random>:replay:`, deleted at the end.
 */
import { spawn } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync, cpSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { pino } from "pino";
import type { DecisionRecord } from "../src/audit/decision-record.js";
import { RedisPolicyArchive } from "../src/audit/policy-archive.js";
import { RedisAuditSink } from "../src/audit/redis-audit-sink.js";
import { loadConfig, packageRoot } from "../src/config/load-config.js";
import { createDecisionCore } from "../src/decision/decision-core.js";
import { mintDevToken } from "../src/identity/dev-issuer.js";
import { createTokenVerifier } from "../src/identity/token-verifier.js";
import { createPolicyManager } from "../src/policy/policy-manager.js";
import { createRedisConnection } from "../src/redis/connection.js";
import { MemoryApprovalStore } from "../src/session/memory-approval-store.js";
import { MemoryDecisionStateReader } from "../src/session/memory-decision-state-reader.js";
import { MemoryRevocationStore } from "../src/session/memory-revocation-store.js";
import { MemorySessionStore } from "../src/session/memory-session-store.js";
import { MemoryToolDefinitionStore } from "../src/session/memory-tool-definition-store.js";
import { policyCopy } from "./lib/policy-dirs.js";
import { deleteKeys } from "./lib/redis-keys.js";

const { values: opt } = parseArgs({
  options: { replay: { type: "boolean" }, records: { type: "string", default: "100000" }, sessions: { type: "string", default: "40" }, "control-sample": { type: "string" }, candidate: { type: "string", default: "read_document" }, profile: { type: "string" } },
});
const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const DOCS = "https://docs.example.com/mcp";
const started = Date.now();
const progress = (msg: string) => process.stderr.write(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${msg}\n`);

/** Records of real decisions: `sessions` research sessions of 50 calls. */
async function makeRecords(dir: string, sessions: number): Promise<DecisionRecord[]> {
  const config = loadConfig({ env: {}, overrides: { cedarDir: dir } });
  const logger = pino({ level: "silent" });
  const policies = createPolicyManager({ dir, logger, watch: false });
  const store = new MemorySessionStore();
  const revocations = new MemoryRevocationStore();
  const records: DecisionRecord[] = [];
  const verifier = createTokenVerifier(config.identity, { operators: [] });
  const core = createDecisionCore({
    verifier,
    policy: () => policies.current(),
    state: new MemoryDecisionStateReader(store, revocations),
    sessions: store,
    revocations,
    approvals: new MemoryApprovalStore(),
    definitions: new MemoryToolDefinitionStore(),
    audit: { append: (r) => void records.push(r), appendDurable: async (r) => void records.push(r) },
    settings: {
      limits: { maxArgumentsBytes: 65536 },
      sessions: { required: true, defaultTtlMs: 600_000, maxTtlMs: 900_000, maxRequestedItems: 100, approvalTtlMs: 600_000 },
      auditRequired: false,
      revocationTtlMs: 3_600_000,
      pdpAudience: config.identity.pdpAudience,
      maxInFlight: 64,
    },
  });
  const ctx = () => ({ decisionId: randomUUID(), caller: { id: "development", via: "development" as const, operator: true }, logger, receivedAt: process.hrtime.bigint() });
  for (let s = 0; s < sessions; s++) {
    const who = { userToken: await mintDevToken("user", { audience: DOCS, subject: `bench-${s}` }), workloadToken: await mintDevToken("workload"), clientId: "dev-client", serverId: DOCS, purpose: "research" };
    const opened = await core.openSession({ ...who, tools: ["search_documents", "read_document"], resources: [], prompts: [], ttlMs: 0 }, ctx());
    if (!opened.outcome.allow) throw new Error(`open session: ${opened.outcome.message}`);
    for (let i = 0; i < 50; i++)
      await core.authorize({ ...who, sessionId: opened.value!.session!.id, action: "tool", tool: i % 2 ? "read_document" : "search_documents", resourceUri: "", arguments: { query: `q${i}` } }, ctx());
  }
  policies.close();
  await verifier.close();
  return records;
}

async function main(): Promise<void> {
  const temps: string[] = [];
  const prefix = `bench:${randomBytes(6).toString("hex")}:replay:`;
  const client = createRedisConnection({ url: REDIS_URL, commandTimeoutMs: 30_000, lazyConnect: true });
  await client.connect();
  try {
    const { dir, total } = policyCopy(path.join(packageRoot, "cedar"), 200, temps);
    const base = await makeRecords(dir, Number(opt.sessions));
    const authorize = base.filter((r) => r.kind === "authorize");
    progress(`${base.length} records from the core (${authorize.length} authorize, ${authorize.filter((r) => r.decision === "ALLOW").length} ALLOW) under ${total} policies`);
    const n = Number(opt.records);
    const sink = new RedisAuditSink({ client, keyPrefix: prefix, maxLen: 0 });
    const t0 = Date.now();
    for (let i = 0; i < n; i += 2000) {
      const batch: DecisionRecord[] = [];
      for (let j = i; j < Math.min(n, i + 2000); j++) batch.push({ ...base[j % base.length]!, decisionId: randomUUID(), time: new Date(t0 + j).toISOString() });
      await sink.write(batch);
      if (i % 20000 === 0) progress(`wrote ${i + batch.length} of ${n} records`);
    }
    const live = createPolicyManager({ dir, logger: pino({ level: "silent" }) });
    const loaded = (await import("../src/policy/load-policy-set.js")).loadPolicySet(dir);
    await new RedisPolicyArchive({ client, keyPrefix: prefix }).put(loaded.version, loaded.sources);
    live.close();
    const candidate = mkdtempSync(path.join(os.tmpdir(), "mcp-pdp-replay-candidate-"));
    temps.push(candidate);
    cpSync(dir, candidate, { recursive: true });
    writeFileSync(path.join(candidate, "policies", "zz-candidate.cedar"), `@id("candidate-forbids-${opt.candidate}")\n@reason("withdrawn")\nforbid (principal, action == Action::"call_tool", resource == Tool::"${DOCS}#${opt.candidate}");\n`);
    progress(`replaying ${n} records from the Redis stream (load ${os.loadavg().map((x) => x.toFixed(2)).join(" ")})`);
    const args = [...(opt.profile ? ["--cpu-prof", "--cpu-prof-dir", opt.profile] : []), path.join(packageRoot, "bin", "mcp-pdp.js"), "policy", "replay", "--redis", REDIS_URL, "--key-prefix", prefix, "--candidate", candidate, "--json", ...(opt["control-sample"] ? ["--control-sample", opt["control-sample"]] : [])];
    const w0 = performance.now();
    const { out, err } = await new Promise<{ out: string; err: string }>((resolve, reject) => {
      const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      let err = "";
      child.stdout.on("data", (d: Buffer) => (out += d));
      child.stderr.on("data", (d: Buffer) => {
        err += d;
        process.stderr.write(d);
      });
      child.on("error", reject);
      child.on("close", () => resolve({ out, err }));
    });
    const seconds = (performance.now() - w0) / 1000;
    const report = JSON.parse(out) as { seconds: number; cpuSeconds: number; read: number; replayed: number; unchanged: number; flips: { allowToDeny: number; denyToAllow: number }; control: { checked: number; reproduced: number; drift: number } };
    console.log(
      `\nmcp-pdp policy replay — ${os.availableParallelism()} cores (${os.cpus()[0]?.model ?? "?"}), node ${process.version}; load ${os.loadavg().map((x) => x.toFixed(2)).join(" ")}\n` +
        `candidate forbids ${opt.candidate}; --control-sample ${opt["control-sample"] ?? 1}\n` +
        `${report.read} records read from the Redis stream, ${report.replayed} replayed, ${report.unchanged} unchanged (not evaluated); ${report.flips.allowToDeny} ALLOW→DENY, ${report.flips.denyToAllow} DENY→ALLOW; control ${report.control.checked} checked, ${report.control.reproduced} reproduced, ${report.control.drift} drift\n` +
        `replay ${report.seconds.toFixed(1)} s: ${Math.round(report.read / report.seconds)} records/s (wall with start-up ${seconds.toFixed(1)} s: ${Math.round(report.read / seconds)}/s); ` +
        `CPU ${report.cpuSeconds.toFixed(1)} s, ${Math.round((report.cpuSeconds * 1e6) / report.read)} µs/record\n`,
    );
    if (err.includes("Error")) process.exitCode = 1;
  } finally {
    await deleteKeys(REDIS_URL, prefix).catch((e: Error) => progress(`could not delete keys under ${prefix}: ${e.message}`));
    client.disconnect();
    for (const d of temps) rmSync(d, { recursive: true, force: true });
  }
}

await main();
