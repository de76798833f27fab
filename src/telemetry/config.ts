/** Settings of metrics and traces: the top-level `metrics` and `tracing` keys. */
import { z } from "zod";

/** Prometheus metrics, served at `/metrics` on the PDP's HTTP port. */
export const metricsConfigSchema = z.strictObject({
  enabled: z.boolean().default(true).meta({
    env: "MCP_PDP_METRICS_ENABLED",
    description: "Count decisions, latency, caches, store, audit, policy, admission and IdP state, and serve them at `/metrics` (Prometheus text format).",
  }),
});

/** OpenTelemetry traces. Off unless an OTLP endpoint is configured (or a test passes an exporter). */
export const tracingConfigSchema = z.strictObject({
  otlpEndpoint: z
    .string()
    .refine((v) => URL.canParse(v) && /^https?:$/.test(new URL(v).protocol), "must be an http:// or https:// URL")
    .optional()
    .meta({
      env: "MCP_PDP_OTLP_ENDPOINT",
      description:
        "OTLP/HTTP (protobuf) traces endpoint, e.g. `http://127.0.0.1:4318/v1/traces`. Setting it turns tracing on; unset, no tracing code is loaded and nothing is recorded.",
    }),
  serviceName: z.string().min(1).max(256).default("mcp-pdp").meta({ description: "`service.name` of the traces." }),
  sampleRatio: z.number().min(0).max(1).default(1).meta({
    env: "MCP_PDP_TRACE_SAMPLE_RATIO",
    description: "Share of new traces recorded (a sampled incoming `traceparent` is always followed).",
  }),
});

/** Metrics settings. */
export type MetricsConfig = z.output<typeof metricsConfigSchema>;
/** Tracing settings. */
export type TracingConfig = z.output<typeof tracingConfigSchema>;
