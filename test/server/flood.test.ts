/**
 * Refused input leaves nothing large behind: a flood of requests each carrying an oversized field —
 * every one DENY INVALID_REQUEST, in production mode from a caller without credentials too — must
 * neither grow the PDP's memory nor amplify into the decision log. Records keep a bounded prefix of
 * a refused field and its length; the heap returns to its baseline once the flood is over.
 */
import assert from "node:assert/strict";
import { mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { Action, Decision, ReasonCode } from "../../src/gen/mcppdp/v1/common_pb.js";
import { startTestPdp } from "../support/pdp.js";

setFlagsFromString("--expose-gc");
const gc = runInNewContext("gc") as () => void;

function heapMiB(): number {
  gc();
  gc();
  return process.memoryUsage().heapUsed / 2 ** 20;
}

const SERVER = "https://docs.example.com/mcp";
const REQUESTS = 200;

/**
 * Two floods: a field that fits the message bound but not the field's own (refused by the
 * question check, its record keeps a 512-character prefix and the length), and a message larger
 * than Authorize's bound (refused before it is decoded, its record holds no field at all).
 */
const FLOODS = [
  { name: "an oversized client_id inside the message bound", field: 64 * 1024, message: /client_id is longer than/ },
  { name: "a message beyond Authorize's bound", field: 200 * 1024, message: /request message is larger than/ },
];

test("a flood of oversized fields: every one refused, bounded records, a small decision log, the heap back to its baseline", { timeout: 180_000 }, async (t) => {
  for (const flood of FLOODS) {
    await t.test(flood.name, async () => {
      const dir = mkdtempSync(path.join(tmpdir(), "mcp-pdp-flood-"));
      const decisionLog = path.join(dir, "decisions.ndjson");
      const pdp = await startTestPdp({ decisionLog, sessions: { required: false } });
      try {
        const big = "x".repeat(flood.field);
        const ask = () =>
          pdp.authz.authorize({ userToken: "t", workloadToken: "w", clientId: big, serverId: SERVER, action: Action.CALL_TOOL, tool: "search_documents", purpose: "research" });
        await ask(); // warm up every code path once
        await pdp.records();
        const before = heapMiB();
        for (let i = 0; i < REQUESTS; i += 20) {
          const answers = await Promise.all(Array.from({ length: 20 }, ask));
          for (const a of answers) {
            assert.equal(a.decision, Decision.DENY);
            assert.equal(a.reasonCode, ReasonCode.INVALID_REQUEST);
            assert.match(a.message, flood.message);
          }
        }
        const records = (await pdp.records()).filter((r) => r.reasonCode === "INVALID_REQUEST");
        assert.equal(records.length, REQUESTS + 1, "one record per refusal");
        for (const r of records) {
          assert.ok((r.clientId ?? "").length <= 512, `record clientId of ${(r.clientId ?? "").length} characters`);
          if (r.clientId !== undefined) assert.equal(r.truncated?.clientId, flood.field, "the record keeps the original length");
          assert.ok(JSON.stringify(r).length < 4096, "a small record");
        }
        const after = heapMiB();
        // 200 × the field would be 12–40 MiB if any of it stayed; the heap may move a little for other reasons.
        assert.ok(after - before < 8, `heap grew from ${before.toFixed(1)} to ${after.toFixed(1)} MiB`);
        await pdp.app.audit.flush();
        const logBytes = statSync(decisionLog).size;
        assert.ok(logBytes < (REQUESTS + 1) * 4096, `decision log of ${logBytes} bytes for ${REQUESTS + 1} refusals`);
      } finally {
        await pdp.close();
      }
    });
  }
});
