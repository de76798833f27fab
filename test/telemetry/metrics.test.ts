/**
 * Prometheus metrics: /metrics is scraped over HTTP and parsed with a text-format parser; the
 * counters move as decisions are made through real gRPC, and every label comes from a closed set.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { REASON_CODES } from "../../src/errors.js";
import { NOVELTY_KINDS } from "../../src/session/novelty-types.js";
import { Action, Decision, ReasonCode } from "../../src/gen/mcppdp/v1/common_pb.js";
import { SessionService } from "../../src/gen/mcppdp/v1/session_pb.js";
import { createClient } from "../../src/grpc/client.js";
import { mintDevToken } from "../../src/identity/dev-issuer.js";
import { startTestPdp, type TestPdp } from "../support/pdp.js";
import { scrape, serveTelemetry, type TelemetryHttp } from "./support.js";

const SERVER = "https://docs.example.com/mcp";
const KINDS = ["authorize", "filter_tools", "open_session", "end_session", "revoke", "decide_approval", "approval_expired"];
/** Label names and the values each may take (sink, issuer and version come from configuration). */
const CLOSED: Record<string, (v: string) => boolean> = {
  kind: (v) => KINDS.includes(v) || ["user", "workload", "caller"].includes(v),
  decision: (v) => v === "ALLOW" || v === "DENY",
  reason_code: (v) => (REASON_CODES as readonly string[]).includes(v),
  store: (v) => ["state", "sessions", "revocations", "approvals", "novelty"].includes(v),
  operation: (v) => /^[a-zA-Z]+$/.test(v),
  sink: (v) => ["pino", "memory", "redis", "test-capture"].includes(v),
  relation: (v) => (NOVELTY_KINDS as readonly string[]).includes(v),
};

describe("metrics", { timeout: 120_000 }, () => {
  let pdp: TestPdp;
  let http: TelemetryHttp;
  before(async () => {
    pdp = await startTestPdp();
    http = await serveTelemetry(pdp.app.telemetry.handleRequest);
  });
  after(async () => {
    await http?.close();
    await pdp?.close();
  });

  test("decisions, latency, store calls, token cache, audit, policy and admission move with real gRPC decisions", async () => {
    const before = await scrape(http.url);
    const tokens = { userToken: await mintDevToken("user", { audience: SERVER }), workloadToken: await mintDevToken("workload") };
    const base = { ...tokens, clientId: "dev-client", serverId: SERVER, purpose: "research" };
    const sessions = createClient(SessionService, pdp.address);
    let denied: ReasonCode;
    try {
      const s = await sessions.openSession({ ...base, tools: ["search_documents"] });
      assert.equal(s.decision, Decision.ALLOW, s.message);
      const ok = await pdp.authz.authorize({ ...base, sessionId: s.sessionId, action: Action.CALL_TOOL, tool: "search_documents" });
      assert.equal(ok.decision, Decision.ALLOW, ok.message);
      const no = await pdp.authz.authorize({ ...base, sessionId: s.sessionId, action: Action.CALL_TOOL, tool: "deploy_production" });
      assert.equal(no.decision, Decision.DENY);
      denied = no.reasonCode;
    } finally {
      sessions.close();
    }
    await pdp.records(); // flushes the audit
    const now = await scrape(http.url);
    const moved = (name: string, labels?: Record<string, string>) => now.value(name, labels) - before.value(name, labels);

    assert.equal(moved("mcp_pdp_decisions_total", { kind: "open_session", decision: "ALLOW", reason_code: "ALLOWED" }), 1);
    assert.equal(moved("mcp_pdp_first_seen_total", { relation: "client_for_user" }), 1, "the fresh PDP saw this client for this user for the first time");
    assert.equal(moved("mcp_pdp_decisions_total", { kind: "authorize", decision: "ALLOW", reason_code: "ALLOWED" }), 1);
    assert.equal(moved("mcp_pdp_decisions_total", { kind: "authorize", decision: "DENY", reason_code: ReasonCode[denied] }), 1);
    assert.equal(now.count("mcp_pdp_decision_duration_seconds", { kind: "authorize" }) - before.count("mcp_pdp_decision_duration_seconds", { kind: "authorize" }), 2);
    assert.equal(now.family("mcp_pdp_decision_duration_seconds")?.type, "HISTOGRAM");

    assert.equal(moved("mcp_pdp_store_operations_total", { store: "sessions", operation: "create" }), 1);
    assert.equal(moved("mcp_pdp_store_operations_total", { store: "novelty", operation: "observe" }), 1, "one novelty observation per opening, none per Authorize");
    assert.equal(moved("mcp_pdp_store_operations_total", { store: "state", operation: "loadForDecision" }), 3, "one state load per decision");
    assert.equal(moved("mcp_pdp_store_operations_total", { store: "sessions", operation: "appendCall" }), 1, "only the ALLOW is appended to the history");
    assert.equal(moved("mcp_pdp_store_failures_total", { store: "state", operation: "loadForDecision" }), 0);

    // Three presentations of the same user token: the first is verified, the later ones hit the cache.
    assert.ok(moved("mcp_pdp_token_cache_misses_total", { kind: "user" }) >= 1);
    assert.ok(moved("mcp_pdp_token_cache_hits_total", { kind: "user" }) >= 1);
    assert.equal(moved("mcp_pdp_token_cache_hits_total", { kind: "user" }) + moved("mcp_pdp_token_cache_misses_total", { kind: "user" }), 3);

    assert.equal(moved("mcp_pdp_audit_written_total", { sink: "memory" }), 3);
    assert.equal(now.value("mcp_pdp_audit_dropped_total", { sink: "memory" }), 0);
    assert.equal(now.family("mcp_pdp_audit_buffered_records")?.type, "GAUGE");
    assert.equal(now.value("mcp_pdp_audit_chain_retries_total", { sink: "memory" }), 0);

    assert.equal(now.value("mcp_pdp_policy_info", { version: pdp.app.engine().version }), 1);
    assert.equal(now.value("mcp_pdp_policy_reloads_total"), 0);
    assert.equal(now.value("mcp_pdp_policy_reload_refusals_total"), 0);
    assert.equal(now.value("mcp_pdp_decisions_in_flight"), 0);
    assert.equal(now.value("mcp_pdp_decisions_in_flight_limit"), 256);
    assert.equal(now.value("mcp_pdp_overloaded_total"), 0);
    assert.equal(now.value("mcp_pdp_ready"), 1);
    assert.equal(now.value("mcp_pdp_store_up"), 1);
    // Node's process metrics, on the same registry.
    assert.ok(now.family("process_cpu_user_seconds_total"));
    assert.ok(now.family("nodejs_eventloop_lag_seconds"));
  });

  test("every label of the PDP's metrics comes from a closed set; no request field is a label", async () => {
    const { families, text } = await scrape(http.url);
    let checked = 0;
    for (const f of families.filter((f) => f.name.startsWith("mcp_pdp_"))) {
      for (const m of f.metrics) {
        for (const [label, value] of Object.entries(m.labels ?? {})) {
          if (label === "version") assert.equal(value, pdp.app.engine().version);
          else if (label === "le") continue;
          else {
            assert.ok(CLOSED[label], `${f.name} has an unexpected label ${label}`);
            assert.ok(CLOSED[label]!(value), `${f.name}{${label}="${value}"} is outside its closed set`);
            checked++;
          }
        }
      }
    }
    assert.ok(checked > 10);
    for (const leaked of ["alice", "dev-client", "search_documents", "research", "eyJ"]) assert.ok(!text.includes(leaked), `metrics mention ${leaked}`);
  });

  test("/healthz is alive, /readyz is ready; other methods are 405; other paths are left to the server", async () => {
    const healthz = await fetch(new URL("/healthz", http.url));
    assert.equal(healthz.status, 200);
    assert.deepEqual(await healthz.json(), { status: "alive" });
    const readyz = await fetch(new URL("/readyz", http.url));
    assert.equal(readyz.status, 200);
    const body = (await readyz.json()) as { status: string; reasons: string[]; degraded: string[] };
    assert.equal(body.status, "SERVING");
    assert.deepEqual(body.reasons, []);
    const post = await fetch(new URL("/metrics", http.url), { method: "POST" });
    assert.equal(post.status, 405);
    assert.equal(post.headers.get("allow"), "GET, HEAD");
    await post.body?.cancel();
    assert.equal((await fetch(new URL("/access/v1/evaluation", http.url))).status, 404);
  });
});

test("metrics.enabled false: /metrics is 404 and decisions are not counted; health still answers", { timeout: 60_000 }, async () => {
  const pdp = await startTestPdp({ metrics: { enabled: false } });
  const http = await serveTelemetry(pdp.app.telemetry.handleRequest);
  try {
    assert.equal(pdp.app.telemetry.metrics, undefined);
    const res = await fetch(new URL("/metrics", http.url));
    assert.equal(res.status, 404);
    assert.match(((await res.json()) as { error: string }).error, /metrics\.enabled/);
    assert.equal((await fetch(new URL("/healthz", http.url))).status, 200);
    assert.equal((await fetch(new URL("/readyz", http.url))).status, 200);
  } finally {
    await http.close();
    await pdp.close();
  }
});

test("overload: DENY OVERLOADED answers are counted, and /readyz stays 200 but says degraded", { timeout: 120_000 }, async () => {
  const pdp = await startTestPdp({ maxInFlight: 1, sessions: { required: false } });
  const http = await serveTelemetry(pdp.app.telemetry.handleRequest);
  try {
    const base = {
      userToken: await mintDevToken("user", { audience: SERVER }),
      workloadToken: await mintDevToken("workload"),
      clientId: "dev-client",
      serverId: SERVER,
      action: Action.CALL_TOOL,
      tool: "search_documents",
      purpose: "research",
    };
    // Bursts of concurrent calls against a bound of one: some are refused at once (bounded tries).
    let overloaded = 0;
    for (let burst = 0; burst < 20 && overloaded === 0; burst++) {
      const answers = await Promise.all(Array.from({ length: 32 }, () => pdp.authz.authorize(base)));
      overloaded += answers.filter((a) => a.reasonCode === ReasonCode.OVERLOADED).length;
    }
    assert.ok(overloaded > 0, "no call was refused for overload");
    const metrics = await scrape(http.url);
    assert.equal(metrics.value("mcp_pdp_overloaded_total"), overloaded);
    assert.equal(metrics.value("mcp_pdp_decisions_total", { kind: "authorize", decision: "DENY", reason_code: "OVERLOADED" }), overloaded);
    assert.equal(metrics.value("mcp_pdp_decisions_in_flight_limit"), 1);
    const res = await fetch(new URL("/readyz", http.url));
    assert.equal(res.status, 200);
    const body = (await res.json()) as { status: string; degraded: string[]; checks: { overload: { refused: number } } };
    assert.equal(body.status, "SERVING");
    assert.deepEqual(body.degraded, ["overload"]);
    assert.equal(body.checks.overload.refused, overloaded);
  } finally {
    await http.close();
    await pdp.close();
  }
});
