/**
 * Starts OpenTelemetry tracing for one PDP: a tracer provider of its own (never the global one,
 * so two PDPs in one process keep their spans apart), a parent-based ratio sampler, a batch
 * processor to OTLP/HTTP (protobuf), and the async context manager that carries the active span
 * across `await`s. The SDK is imported here, dynamically: with tracing off it is never loaded.
 */
import { DiagLogLevel, context, diag } from "@opentelemetry/api";
import type { Logger } from "pino";
import type { SpanExporter } from "@opentelemetry/sdk-trace-node";
import type { TracingConfig } from "./config.js";
import { TRACER_NAME, type Tracing } from "./tracing.js";

/** How spans leave the process. */
export interface StartTracingOptions {
  /**
   * Export to this exporter instead of OTLP, each span as it ends (tests pass the SDK's
   * `InMemorySpanExporter`). With it, tracing is on even without `otlpEndpoint`.
   */
  readonly exporter?: SpanExporter;
  /** Where the SDK's own warnings and errors go (e.g. an export that failed); default nowhere. */
  readonly logger?: Pick<Logger, "warn">;
}

let contextManagerSet = false;

/** Tracing for `config`, or undefined when it is off (no endpoint and no exporter). */
export async function startTracing(config: TracingConfig, options: StartTracingOptions = {}): Promise<Tracing | undefined> {
  if (!config.otlpEndpoint && !options.exporter) return undefined;
  const [sdk, { W3CTraceContextPropagator }, { resourceFromAttributes }, { AsyncLocalStorageContextManager }] = await Promise.all([
    import("@opentelemetry/sdk-trace-node"),
    import("@opentelemetry/core"),
    import("@opentelemetry/resources"),
    import("@opentelemetry/context-async-hooks"),
  ]);
  // The context manager and the SDK's diagnostic logger are process-wide (the API has one slot
  // each); the first PDP sets them for all.
  if (!contextManagerSet && options.logger) {
    const log = options.logger;
    const warn = (message: string, ...args: unknown[]) => log.warn({ otel: args.map(String).join(" ").slice(0, 500) }, `tracing: ${message}`);
    diag.setLogger({ error: warn, warn, info: () => {}, debug: () => {}, verbose: () => {} }, { logLevel: DiagLogLevel.WARN, suppressOverrideMessage: true });
  }
  if (!contextManagerSet) {
    contextManagerSet = context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable()) || contextManagerSet;
  }
  let processor;
  if (options.exporter) {
    processor = new sdk.SimpleSpanProcessor(options.exporter);
  } else {
    const { OTLPTraceExporter } = await import("@opentelemetry/exporter-trace-otlp-proto");
    processor = new sdk.BatchSpanProcessor(new OTLPTraceExporter({ url: config.otlpEndpoint! }));
  }
  const provider = new sdk.NodeTracerProvider({
    resource: resourceFromAttributes({ "service.name": config.serviceName }),
    sampler: new sdk.ParentBasedSampler({ root: new sdk.TraceIdRatioBasedSampler(config.sampleRatio) }),
    spanProcessors: [processor],
  });
  return {
    tracer: provider.getTracer(TRACER_NAME),
    propagator: new W3CTraceContextPropagator(),
    shutdown: () => provider.shutdown(),
  };
}
