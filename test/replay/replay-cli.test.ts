/**
 * `mcp-pdp policy replay` as a user runs it (the compiled CLI in a child process), against an
 * NDJSON export and against the Redis audit stream (real Redis, own key prefix; control versions
 * from the policy archive), and its CI gate: exit 1 when flips exceed `--max-flips`.
 */
import assert from "node:assert/strict";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { RedisPolicyArchive } from "../../src/audit/policy-archive.js";
import { RedisAuditSink } from "../../src/audit/redis-audit-sink.js";
import type { ReplayReport } from "../../src/decision/replay-tally.js";
import { loadPolicySet } from "../../src/policy/load-policy-set.js";
import { assertBuilt, cli } from "../cli/run-cli.js";
import { rig } from "../decision/support/core-rig.js";
import { copyCedar } from "../support/pdp.js";
import { deleteKeysUnder, REDIS_URL, testClient, uniquePrefix } from "../support/redis.js";
import { DOCS, forbidding, recordAllArguments, traffic } from "./support/traffic.js";

test("policy replay: NDJSON and the Redis stream give the same flips; --max-flips gates; the control comes from the archive", { timeout: 180_000 }, async () => {
  assertBuilt();
  const dir = copyCedar(recordAllArguments);
  const r = await rig(dir);
  const client = await testClient();
  const keyPrefix = uniquePrefix("replay-cli");
  try {
    await traffic(r);
    const records = r.records;
    const searches = records.filter((x) => x.kind === "authorize" && x.tool === "search_documents" && x.decision === "ALLOW").length;
    assert.ok(searches > 0);
    const candidate = forbidding(recordAllArguments, DOCS, "search_documents");
    const file = path.join(mkdtempSync(path.join(tmpdir(), "mcp-pdp-replay-")), "decisions.ndjson");
    writeFileSync(file, records.map((x) => JSON.stringify(x) + "\n").join(""));

    // NDJSON, control from --baseline: flips exactly the searches; over --max-flips 0 → exit 1.
    const gated = await cli(["policy", "replay", "--input", file, "--candidate", candidate, "--baseline", dir, "--max-flips", "0", "--json"]);
    assert.equal(gated.code, 1, gated.err);
    assert.match(gated.err, new RegExp(`${searches} flip\\(s\\) exceed --max-flips 0`));
    const report = JSON.parse(gated.out) as ReplayReport;
    assert.equal(report.flips.allowToDeny, searches);
    assert.equal(report.flips.denyToAllow, 0);
    assert.equal(report.control.drift, 0);
    assert.equal(report.control.reproduced, report.replayed);
    // In this thread or in worker threads: the same report.
    const single = await cli(["policy", "replay", "--input", file, "--candidate", candidate, "--baseline", dir, "--json", "--workers", "1", "--samples", "100"]);
    const multi = await cli(["policy", "replay", "--input", file, "--candidate", candidate, "--baseline", dir, "--json", "--workers", "3", "--samples", "100"]);
    const strip = (text: string) => {
      const { seconds: _s, cpuSeconds: _c, workers: _w, ...rest } = JSON.parse(text);
      for (const g of rest.flips.groups) g.samples.sort();
      return rest;
    };
    assert.deepEqual(strip(multi.out), strip(single.out));
    assert.equal(JSON.parse(multi.out).workers, 3);
    const allowed = await cli(["policy", "replay", "--input", file, "--candidate", candidate, "--baseline", dir, "--max-flips", String(searches)]);
    assert.equal(allowed.code, 0, allowed.err);
    assert.match(allowed.out, new RegExp(`flips: ${searches} ALLOW→DENY, 0 DENY→ALLOW`));
    assert.match(allowed.out, /ALLOW→DENY\s+\d+\s+POLICY_DENIED by candidate-forbids-search_documents/);
    assert.match(allowed.out, /0 DRIFT/);
    // The same set as candidate: nothing flips; without a baseline the candidate is its own control.
    const same = await cli(["policy", "replay", "--input", file, "--candidate", dir, "--max-flips", "0", "--json"]);
    assert.equal(same.code, 0, same.err);
    assert.equal((JSON.parse(same.out) as ReplayReport).flips.allowToDeny, 0);
    // Filters as in audit query narrow what is replayed.
    const narrowed = await cli(["policy", "replay", "--input", file, "--candidate", candidate, "--tool", "read_file", "--max-flips", "0", "--json"]);
    assert.equal(narrowed.code, 0, narrowed.err);
    // --first-seen too (these records carry no firstSeen: nothing is replayed, nothing flips).
    assert.ok(records.every((x) => !x.firstSeen));
    const firstSeen = await cli(["policy", "replay", "--input", file, "--candidate", candidate, "--first-seen", "--max-flips", "0", "--json"]);
    assert.equal(firstSeen.code, 0, firstSeen.err);
    assert.equal((JSON.parse(firstSeen.out) as ReplayReport).flips.allowToDeny, 0);

    // The Redis stream, control versions from the policy archive.
    await new RedisAuditSink({ client, keyPrefix }).write(records);
    const live = loadPolicySet(dir);
    await new RedisPolicyArchive({ client, keyPrefix }).put(live.version, live.sources);
    const fromRedis = await cli(["policy", "replay", "--redis", REDIS_URL, "--key-prefix", keyPrefix, "--candidate", candidate, "--json", "--since", "1h"]);
    assert.equal(fromRedis.code, 0, fromRedis.err);
    const rr = JSON.parse(fromRedis.out) as ReplayReport;
    assert.equal(rr.read, records.length);
    assert.equal(rr.flips.allowToDeny, searches);
    assert.equal(rr.control.checked, rr.replayed, "every replayed record got its control from the archive");
    assert.equal(rr.control.drift, 0);
    // A candidate that does not load is refused with its diagnostics, in worker threads and in this thread.
    const invalid = copyCedar((d) => writeFileSync(path.join(d, "policies", "zz-bad.cedar"), '@id("bad")\n@reason("r")\nforbid (principal, action, resource) when { context.no_such_field };\n'));
    for (const workers of ["2", "1"]) {
      const refused = await cli(["policy", "replay", "--input", file, "--candidate", invalid, "--workers", workers]);
      assert.equal(refused.code, 1, refused.err);
      assert.match(refused.err, /candidate .* is refused:\n.*zz-bad\.cedar.*\[bad\]/);
    }
    // An archived version whose texts do not load (here: they do not hash to it): said once, its records get no control.
    await new RedisPolicyArchive({ client, keyPrefix }).put(live.version, live.sources.map((f) => (f.path.startsWith("policies/") ? { ...f, text: `${f.text}\n// changed` } : f)));
    const unloadable = await cli(["policy", "replay", "--redis", REDIS_URL, "--key-prefix", keyPrefix, "--candidate", candidate, "--json"]);
    assert.equal(unloadable.code, 0, unloadable.err);
    assert.equal(unloadable.err.match(/does not load; its records get no control/g)?.length, 1, unloadable.err);
    const ur = JSON.parse(unloadable.out) as ReplayReport;
    assert.equal(ur.control.checked, 0);
    assert.equal(ur.control.unavailable, ur.replayed);
    const usage = await cli(["policy", "replay", "--candidate", candidate]);
    assert.equal(usage.code, 2, usage.err);
  } finally {
    await deleteKeysUnder(client, keyPrefix);
    client.disconnect();
    await r.close();
  }
});
