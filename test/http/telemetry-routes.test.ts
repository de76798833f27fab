/**
 * The PDP's own HTTP listener answers /metrics, /healthz and /readyz beside AuthZEN (the routes
 * are mounted in the app, not only in an embedding program), and a decision made over gRPC shows
 * in the metrics served there.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Action, Decision } from "../../src/gen/mcppdp/v1/common_pb.js";
import { mintDevToken } from "../../src/identity/dev-issuer.js";
import { startTestPdp } from "../support/pdp.js";

const SERVER = "https://docs.example.com/mcp";

test("the HTTP listener serves /metrics, /healthz and /readyz, and AuthZEN beside them", { timeout: 60_000 }, async () => {
  const pdp = await startTestPdp({ sessions: { required: false } });
  try {
    const base = `http://127.0.0.1:${pdp.app.httpPort}`;
    assert.equal((await fetch(`${base}/healthz`)).status, 200);
    const ready = await fetch(`${base}/readyz`);
    assert.equal(ready.status, 200, await ready.clone().text());
    assert.equal(((await ready.json()) as { ready: boolean }).ready, true);

    const r = await pdp.authz.authorize({
      userToken: await mintDevToken("user", { audience: SERVER }),
      workloadToken: await mintDevToken("workload"),
      clientId: "dev-client",
      serverId: SERVER,
      action: Action.CALL_TOOL,
      tool: "search_documents",
      purpose: "research",
    });
    assert.equal(r.decision, Decision.ALLOW, r.message);
    const metrics = await (await fetch(`${base}/metrics`)).text();
    assert.match(metrics, /^mcp_pdp_decisions_total\{[^}]*kind="authorize"[^}]*\} [1-9]/m);
    // AuthZEN still answers on the same listener.
    const meta = await fetch(`${base}/.well-known/authzen-configuration`);
    assert.equal(meta.status, 200);
  } finally {
    await pdp.close();
  }
});
