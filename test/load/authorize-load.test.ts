/**
 * The V8 hazard: cedar-wasm under sustained load has killed Node 20 with "Fatal error …
 * unreachable code" in the deoptimizer. The PDP sets --no-turbo-inline-js-wasm-calls itself
 * before cedar-wasm loads. This drives 20,000 Authorize calls over gRPC into a PDP process
 * started with NO V8 flags on its command line, and checks it survives and decides correctly.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { createClient } from "../../src/grpc/client.js";
import { AuthorizationService } from "../../src/gen/mcppdp/v1/authorization_pb.js";
import { Action, Decision, ReasonCode } from "../../src/gen/mcppdp/v1/common_pb.js";
import { mintDevToken } from "../../src/identity/dev-issuer.js";
import { spawnPdp } from "../support/pdp-process.js";

const CALLS = 20_000;
const IN_FLIGHT = 64;
const SERVER = "https://docs.example.com/mcp";
const TOOLS = [
  { tool: "search_documents", expect: ReasonCode.ALLOWED },
  { tool: "read_document", expect: ReasonCode.ALLOWED },
  { tool: "deploy_production", expect: ReasonCode.POLICY_DENIED },
  { tool: "send_message", expect: ReasonCode.NO_PERMIT },
];

test(`${CALLS} Authorize calls, ${IN_FLIGHT} in flight: no crash, every answer right, one record each`, { timeout: 240_000 }, async (t) => {
  const decisions = path.join(mkdtempSync(path.join(tmpdir(), "mcp-pdp-load-")), "decisions.ndjson");
  const pdp = await spawnPdp({ MCP_PDP_DECISION_LOG: decisions, MCP_PDP_SESSIONS_REQUIRED: "false" });
  t.after(() => pdp.child.kill("SIGKILL"));
  assert.doesNotMatch(pdp.child.spawnargs.join(" "), /turbo/);
  const client = createClient(AuthorizationService, `127.0.0.1:${pdp.port}`);
  const userToken = await mintDevToken("user", { audience: SERVER, ttlSeconds: 1800 });
  const workloadToken = await mintDevToken("workload", { ttlSeconds: 1800 });
  const wrong: string[] = [];
  let next = 0;
  const started = Date.now();
  const worker = async () => {
    while (next < CALLS) {
      const i = next++;
      const { tool, expect } = TOOLS[i % TOOLS.length]!;
      const res = await client.authorize(
        {
          userToken,
          workloadToken,
          clientId: "dev-client",
          serverId: SERVER,
          action: Action.CALL_TOOL,
          tool,
          purpose: "research",
          arguments: { i, query: `q${i % 97}`, nested: { n: i % 13, list: [1, "two", i % 2 === 0] } },
        },
        { timeoutMs: 30_000 },
      );
      if (res.reasonCode !== expect || (res.decision === Decision.ALLOW) !== (expect === ReasonCode.ALLOWED))
        wrong.push(`${i} ${tool}: ${ReasonCode[res.reasonCode]}`);
    }
  };
  try {
    await Promise.all(Array.from({ length: IN_FLIGHT }, worker));
  } finally {
    client.close();
  }
  const seconds = (Date.now() - started) / 1000;
  console.log(`# load: ${CALLS} calls in ${seconds.toFixed(1)} s (${Math.round(CALLS / seconds)}/s), ${IN_FLIGHT} in flight`);
  assert.equal(pdp.child.exitCode, null, `the PDP died:\n${pdp.stderr().slice(-2000)}`);
  assert.doesNotMatch(pdp.stderr(), /Fatal error|unreachable/);
  assert.deepEqual(wrong.slice(0, 5), []);
  pdp.child.kill("SIGTERM");
  assert.equal(await pdp.exited, 0);
  const records = readFileSync(decisions, "utf8").trim().split("\n");
  assert.equal(records.length, CALLS, "one decision record per call");
  assert.ok(!records.some((l) => l.includes(userToken.split(".")[2]!) || l.includes(workloadToken.split(".")[2]!)));
});
