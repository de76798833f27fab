/** The metrics and tracing keys: defaults, variables, and a clear error for a bad endpoint. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { loadConfig } from "../../src/config/load-config.js";

test("metrics on and tracing off by default; the variables set them; a non-http endpoint is refused by name", { timeout: 10_000 }, () => {
  const defaults = loadConfig({ env: {} });
  assert.deepEqual(defaults.metrics, { enabled: true });
  assert.deepEqual(defaults.tracing, { serviceName: "mcp-pdp", sampleRatio: 1 });
  const set = loadConfig({ env: { MCP_PDP_METRICS_ENABLED: "false", MCP_PDP_OTLP_ENDPOINT: "http://127.0.0.1:4318/v1/traces", MCP_PDP_TRACE_SAMPLE_RATIO: "0.25" } });
  assert.deepEqual(set.metrics, { enabled: false });
  assert.deepEqual(set.tracing, { otlpEndpoint: "http://127.0.0.1:4318/v1/traces", serviceName: "mcp-pdp", sampleRatio: 0.25 });
  assert.throws(() => loadConfig({ env: { MCP_PDP_OTLP_ENDPOINT: "ftp://collector" } }), /tracing\.otlpEndpoint: must be an http:\/\/ or https:\/\/ URL \(from MCP_PDP_OTLP_ENDPOINT\)/);
  assert.throws(() => loadConfig({ env: { MCP_PDP_TRACE_SAMPLE_RATIO: "2" } }), /tracing\.sampleRatio/);
  assert.throws(() => loadConfig({ env: {}, overrides: { tracing: { exporter: "zipkin" } } }), /tracing\.exporter/);
});
