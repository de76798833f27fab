/**
 * OpenTelemetry traces: one Authorize over real gRPC gives one SERVER span, parented by the
 * caller's `traceparent` metadata, with child spans for token verification, the store, Cedar and
 * the audit, collected with the SDK's in-memory exporter. With tracing off the SDK is never loaded.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { after, before, describe, test } from "node:test";
import { promisify } from "node:util";
import * as grpc from "@grpc/grpc-js";
import { SpanKind } from "@opentelemetry/api";
import { InMemorySpanExporter, type ReadableSpan } from "@opentelemetry/sdk-trace-node";
import { packageRoot } from "../../src/config/load-config.js";
import { Action, Decision } from "../../src/gen/mcppdp/v1/common_pb.js";
import { SessionService } from "../../src/gen/mcppdp/v1/session_pb.js";
import { createClient } from "../../src/grpc/client.js";
import { mintDevToken } from "../../src/identity/dev-issuer.js";
import { startTestPdp, type TestPdp } from "../support/pdp.js";

const SERVER = "https://docs.example.com/mcp";
const TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID = "00f067aa0ba902b7";

describe("tracing with an in-memory exporter", { timeout: 120_000 }, () => {
  let pdp: TestPdp;
  const exporter = new InMemorySpanExporter();
  before(async () => {
    pdp = await startTestPdp({}, [], { spanExporter: exporter });
  });
  after(() => pdp?.close());

  const tokens = async () => ({ userToken: await mintDevToken("user", { audience: SERVER }), workloadToken: await mintDevToken("workload") });
  const children = (spans: readonly ReadableSpan[], parent: ReadableSpan) =>
    spans.filter((s) => s.parentSpanContext?.spanId === parent.spanContext().spanId).map((s) => s.name);

  test("one Authorize: a SERVER span under the incoming traceparent, with verify, store, cedar and audit children", async () => {
    const base = { ...(await tokens()), clientId: "dev-client", serverId: SERVER, purpose: "research" };
    const sessions = createClient(SessionService, pdp.address);
    let sessionId: string;
    try {
      const s = await sessions.openSession({ ...base, tools: ["search_documents"] });
      assert.equal(s.decision, Decision.ALLOW, s.message);
      sessionId = s.sessionId;
    } finally {
      sessions.close();
    }
    exporter.reset();
    const metadata = new grpc.Metadata();
    metadata.set("traceparent", `00-${TRACE_ID}-${PARENT_ID}-01`);
    metadata.set("tracestate", "vendor=abc");
    const res = await pdp.authz.authorize({ ...base, sessionId, action: Action.CALL_TOOL, tool: "search_documents" }, { metadata });
    assert.equal(res.decision, Decision.ALLOW, res.message);

    const spans = exporter.getFinishedSpans();
    const roots = spans.filter((s) => s.name === "mcppdp.v1.AuthorizationService/Authorize");
    assert.equal(roots.length, 1, spans.map((s) => s.name).join(", "));
    const rpc = roots[0]!;
    assert.equal(rpc.kind, SpanKind.SERVER);
    assert.equal(rpc.spanContext().traceId, TRACE_ID);
    assert.equal(rpc.parentSpanContext?.spanId, PARENT_ID);
    assert.equal(rpc.spanContext().traceState?.get("vendor"), "abc");
    assert.equal(rpc.attributes["rpc.system"], "grpc");
    assert.equal(rpc.attributes["rpc.method"], "Authorize");
    assert.equal(rpc.attributes["mcppdp.decision_id"], res.decisionId);
    assert.equal(rpc.attributes["mcppdp.decision"], "ALLOW");
    assert.equal(rpc.attributes["mcppdp.reason_code"], "ALLOWED");
    assert.equal(rpc.attributes["mcppdp.decision_kind"], "authorize");

    // Every span of this request is in the same trace, and the tree is exactly this.
    assert.ok(spans.every((s) => s.spanContext().traceId === TRACE_ID));
    assert.deepEqual(children(spans, rpc).sort(), ["audit.append", "cedar.evaluate", "store.sessions.appendCall", "store.state.loadForDecision", "verify.user", "verify.workload"]);
    const cedar = spans.find((s) => s.name === "cedar.evaluate")!;
    assert.equal(cedar.attributes["mcppdp.policy_version"], pdp.app.engine().version);
    assert.equal(cedar.attributes["mcppdp.cedar_action"], "call_tool");
    // Spans never carry tokens or request fields beyond the decision's closed-set outcome.
    const text = JSON.stringify(spans.map((s) => s.attributes));
    for (const leaked of [base.userToken, "alice", "search_documents"]) assert.ok(!text.includes(leaked));
  });

  test("without a traceparent the RPC span starts a new trace", async () => {
    exporter.reset();
    const res = await pdp.authz.authorize({ ...(await tokens()), clientId: "dev-client", serverId: SERVER, purpose: "research", action: Action.CALL_TOOL, tool: "search_documents" });
    assert.equal(res.decision, Decision.DENY); // sessions are required by default
    const rpc = exporter.getFinishedSpans().find((s) => s.name === "mcppdp.v1.AuthorizationService/Authorize");
    assert.ok(rpc);
    assert.equal(rpc.parentSpanContext, undefined);
    assert.notEqual(rpc.spanContext().traceId, TRACE_ID);
    assert.equal(rpc.attributes["mcppdp.decision"], "DENY");
  });
});

test("tracing off (the default): no OpenTelemetry SDK module is ever loaded", { timeout: 120_000 }, async () => {
  // A child process that records every module it resolves, starts a PDP, decides once and stops.
  const script = path.join(packageRoot, "test", "telemetry", "fixtures", "start-and-decide.ts");
  const hooks = path.join(packageRoot, "test", "telemetry", "fixtures", "record-resolutions.mjs");
  const { stdout } = await promisify(execFile)(process.execPath, ["--import", "tsx", "--import", hooks, script], { cwd: packageRoot, timeout: 90_000 });
  const resolved = stdout.split("\n").filter((l) => l.startsWith("resolved "));
  assert.ok(resolved.some((l) => l.includes("@opentelemetry/api")), "the API is loaded (spans in code)");
  assert.ok(resolved.some((l) => l.includes("prom-client")), "the recorder saw the app's modules");
  const sdk = resolved.filter((l) => /@opentelemetry\/(sdk-|core|resources|exporter-|context-async-hooks)/.test(l));
  assert.deepEqual(sdk, []);
  assert.match(stdout, /decided ALLOW/);
});

test("tracing.otlpEndpoint: spans reach an OTLP/HTTP receiver as protobuf (flushed at stop)", { timeout: 120_000 }, async () => {
  const posts: { path: string; type: string; body: Buffer }[] = [];
  const receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      posts.push({ path: req.url ?? "", type: req.headers["content-type"] ?? "", body: Buffer.concat(chunks) });
      res.writeHead(200, { "content-type": "application/x-protobuf" }).end();
    });
  });
  await new Promise<void>((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  const endpoint = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/v1/traces`;
  try {
    const pdp = await startTestPdp({ tracing: { otlpEndpoint: endpoint, serviceName: "pdp-under-test" } });
    try {
      const res = await pdp.authz.authorize({
        userToken: await mintDevToken("user", { audience: SERVER }),
        workloadToken: await mintDevToken("workload"),
        clientId: "dev-client",
        serverId: SERVER,
        purpose: "research",
        action: Action.CALL_TOOL,
        tool: "search_documents",
      });
      assert.equal(res.decision, Decision.DENY); // sessions are required by default; traced all the same
    } finally {
      await pdp.close(); // flushes the batch
    }
    assert.ok(posts.length >= 1, "no export reached the receiver");
    assert.ok(posts.every((p) => p.path === "/v1/traces" && p.type === "application/x-protobuf"), JSON.stringify(posts.map((p) => [p.path, p.type])));
    const all = Buffer.concat(posts.map((p) => p.body));
    for (const name of ["mcppdp.v1.AuthorizationService/Authorize", "verify.user", "pdp-under-test"]) assert.ok(all.includes(name), `${name} not exported`);
  } finally {
    await new Promise<void>((resolve) => receiver.close(() => resolve()));
  }
});

test("an OTLP endpoint that refuses connections never fails a decision or the stop; the failure is logged", { timeout: 120_000 }, async () => {
  const closed = createServer();
  await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
  const port = (closed.address() as AddressInfo).port;
  await new Promise<void>((resolve) => closed.close(() => resolve()));
  const pdp = await startTestPdp({ tracing: { otlpEndpoint: `http://127.0.0.1:${port}/v1/traces` }, sessions: { required: false } });
  let stopped = false;
  try {
    const ask = async () =>
      pdp.authz.authorize({
        userToken: await mintDevToken("user", { audience: SERVER }),
        workloadToken: await mintDevToken("workload"),
        clientId: "dev-client",
        serverId: SERVER,
        purpose: "research",
        action: Action.CALL_TOOL,
        tool: "search_documents",
      });
    for (let i = 0; i < 10; i++) assert.equal((await ask()).decision, Decision.ALLOW);
    await pdp.close(); // the final export fails: logged, not thrown
    stopped = true;
    assert.match(pdp.logText(), /tracing: /);
  } finally {
    if (!stopped) await pdp.close().catch(() => {});
  }
});
