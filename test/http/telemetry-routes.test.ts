/**
 * The PDP's own HTTP listener answers /metrics, /healthz and /readyz beside AuthZEN (the routes
 * are mounted in the app, not only in an embedding program), and a decision made over gRPC shows
 * in the metrics served there.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { InMemorySpanExporter } from "@opentelemetry/sdk-trace-node";
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

test("an AuthZEN evaluation is a SERVER span under the request's traceparent, with the core's spans below it", { timeout: 60_000 }, async () => {
  const exporter = new InMemorySpanExporter();
  const pdp = await startTestPdp({ sessions: { required: false } }, [], { spanExporter: exporter });
  try {
    const traceId = "4bf92f3577b34da6a3ce929d0e0e4736";
    const parentId = "00f067aa0ba902b7";
    const res = await fetch(`http://127.0.0.1:${pdp.app.httpPort}/access/v1/evaluation`, {
      method: "POST",
      headers: { "content-type": "application/json", traceparent: `00-${traceId}-${parentId}-01` },
      body: JSON.stringify({
        subject: { type: "identity", id: "alice", properties: { token: await mintDevToken("user", { audience: SERVER }) } },
        action: { name: "tools/call" },
        resource: { type: "tool", id: "search_documents" },
        context: { agent: "dev-client", server_id: SERVER, purpose: "research", workload_token: await mintDevToken("workload") },
      }),
    });
    const answer = (await res.json()) as { decision: boolean; context?: { reason_code?: string } };
    assert.equal(answer.decision, true, JSON.stringify(answer));
    const spans = exporter.getFinishedSpans();
    const roots = spans.filter((s) => s.name === "AuthZEN evaluation");
    assert.equal(roots.length, 1, spans.map((s) => s.name).join(", "));
    const root = roots[0]!;
    assert.equal(root.spanContext().traceId, traceId);
    assert.equal(root.parentSpanContext?.spanId, parentId);
    const inTrace = spans.filter((s) => s.spanContext().traceId === traceId).map((s) => s.name);
    for (const name of ["verify.user", "verify.workload", "cedar.evaluate", "audit.append"]) assert.ok(inTrace.includes(name), `${name} in ${inTrace.join(", ")}`);
  } finally {
    await pdp.close();
  }
});
