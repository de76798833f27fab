/**
 * The PEP library carries the caller's W3C trace context to the PDP: a tools/call whose
 * `params._meta` holds a `traceparent` (as a tracing MCP client sends it) reaches the PDP as gRPC
 * metadata, so the PDP's OpenSession and Authorize spans join that trace. A malformed one is not
 * forwarded.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { InMemorySpanExporter } from "@opentelemetry/sdk-trace-node";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { connectDocsClient, decisionOf } from "../../examples/docs-server/docs-client.js";
import { startDocsServer } from "../../examples/docs-server/start-docs-server.js";
import { validTraceContext } from "../../src/pep/trace-context.js";
import { devIdentity } from "../e2e/support/harness.js";
import { startTestPdp } from "../support/pdp.js";

const TRACE_ID = "0af7651916cd43dd8448eb211c80319c";
const PARENT_ID = "b7ad6b7169203331";

test("tools/call and tools/list with _meta.traceparent: the PDP's OpenSession, Authorize and FilterTools spans are in the caller's trace", { timeout: 120_000 }, async () => {
  const exporter = new InMemorySpanExporter();
  const pdp = await startTestPdp({}, [], { spanExporter: exporter });
  const docs = await startDocsServer({ pdp: { address: pdp.address } });
  const client = await connectDocsClient(docs.url, await devIdentity());
  try {
    const result = (await client.callTool({
      name: "search_documents",
      arguments: { query: "pdp" },
      _meta: { traceparent: `00-${TRACE_ID}-${PARENT_ID}-01`, tracestate: "mcp=1" },
    })) as CallToolResult;
    assert.equal(decisionOf(result)?.allowed, true, JSON.stringify(result));
    const spans = exporter.getFinishedSpans();
    for (const name of ["mcppdp.v1.SessionService/OpenSession", "mcppdp.v1.AuthorizationService/Authorize"]) {
      const span = spans.find((s) => s.name === name);
      assert.ok(span, `${name} in ${spans.map((s) => s.name).join(", ")}`);
      assert.equal(span.spanContext().traceId, TRACE_ID, name);
      assert.equal(span.parentSpanContext?.spanId, PARENT_ID, name);
      assert.equal(span.spanContext().traceState?.get("mcp"), "1");
    }

    exporter.reset();
    const listed = await client.listTools({ _meta: { traceparent: `00-${TRACE_ID}-${PARENT_ID}-01` } });
    assert.ok(listed.tools.some((t) => t.name === "search_documents"));
    const filter = exporter.getFinishedSpans().find((s) => s.name === "mcppdp.v1.AuthorizationService/FilterTools");
    assert.ok(filter, "tools/list asked FilterTools");
    assert.equal(filter.spanContext().traceId, TRACE_ID);
    assert.equal(filter.parentSpanContext?.spanId, PARENT_ID);

    exporter.reset();
    const bad = (await client.callTool({ name: "search_documents", arguments: { query: "pdp" }, _meta: { traceparent: `00-${"0".repeat(32)}-${PARENT_ID}-01` } })) as CallToolResult;
    assert.equal(decisionOf(bad)?.allowed, true);
    const authorize = exporter.getFinishedSpans().find((s) => s.name === "mcppdp.v1.AuthorizationService/Authorize");
    assert.ok(authorize);
    assert.equal(authorize.parentSpanContext, undefined, "an invalid traceparent is not forwarded");
  } finally {
    await client.close();
    await docs.close();
    await pdp.close();
  }
});

test("validTraceContext accepts the W3C form only", { timeout: 10_000 }, () => {
  assert.deepEqual(validTraceContext(`00-${TRACE_ID}-${PARENT_ID}-01`), { traceparent: `00-${TRACE_ID}-${PARENT_ID}-01` });
  for (const bad of [
    `ff-${TRACE_ID}-${PARENT_ID}-01`,
    `00-${TRACE_ID.toUpperCase()}-${PARENT_ID}-01`,
    `00-${TRACE_ID}-${"0".repeat(16)}-01`,
    `00-${TRACE_ID}-${PARENT_ID}-01 `,
    `00-${TRACE_ID}-${PARENT_ID}`,
    42,
    undefined,
  ])
    assert.equal(validTraceContext(bad), undefined, String(bad));
  assert.equal(validTraceContext(`00-${TRACE_ID}-${PARENT_ID}-01`, "x".repeat(513))?.tracestate, undefined);
  assert.equal(validTraceContext(`00-${TRACE_ID}-${PARENT_ID}-01`, "a=b\n")?.tracestate, undefined);
});
