/**
 * Tracing as the rest of the PDP sees it: spans through `@opentelemetry/api` only. The SDK (span
 * processors, exporters, the W3C propagator, the async context manager) is loaded by
 * `start-tracing.ts`, and only when tracing is configured: with tracing off nothing here is
 * called and nothing is wrapped, so it costs nothing.
 */
import { SpanKind, SpanStatusCode, context, type Attributes, type Context, type Span, type TextMapPropagator, type Tracer } from "@opentelemetry/api";

/** The instrumentation scope of the PDP's spans. */
export const TRACER_NAME = "mcp-pdp";

/** A running tracer and the W3C trace-context propagator. */
export interface Tracing {
  readonly tracer: Tracer;
  readonly propagator: TextMapPropagator;
  /** Flushes the spans not yet exported and stops the exporter. */
  shutdown(): Promise<void>;
}

/** Reads one header (gRPC metadata, HTTP header) by lower-case name. */
export type HeaderReader = (name: string) => string | undefined;

/** The context an incoming request's `traceparent`/`tracestate` name (the active context when it names none). */
export function incomingContext(tracing: Tracing, header: HeaderReader): Context {
  return tracing.propagator.extract(context.active(), header, {
    get: (read, key) => read(key),
    keys: () => ["traceparent", "tracestate"],
  });
}

/**
 * Runs `fn` in a SERVER span for one request, parented by the trace context the request carries
 * (`traceparent`), and ends the span when `fn` settles.
 */
export function serverSpan<T>(tracing: Tracing, name: string, attributes: Attributes, header: HeaderReader, fn: (span: Span) => Promise<T>): Promise<T> {
  const parent = incomingContext(tracing, header);
  return tracing.tracer.startActiveSpan(name, { kind: SpanKind.SERVER, attributes }, parent, (span) => settle(span, () => fn(span)));
}

/** Runs `fn` (sync or async) in a child span of the active one. */
export function childSpan<T>(tracing: Tracing, name: string, fn: () => T, attributes?: Attributes): T {
  return tracing.tracer.startActiveSpan(name, attributes ? { attributes } : {}, (span) => settle(span, fn));
}

function settle<T>(span: Span, fn: () => T): T {
  const fail = (err: unknown) => {
    span.recordException(err instanceof Error ? err : String(err));
    span.setStatus({ code: SpanStatusCode.ERROR, message: err instanceof Error ? err.name : "error" });
    span.end();
  };
  let result: T;
  try {
    result = fn();
  } catch (err) {
    fail(err);
    throw err;
  }
  if (result instanceof Promise) {
    return result.then(
      (v) => {
        span.end();
        return v;
      },
      (err: unknown) => {
        fail(err);
        throw err;
      },
    ) as T;
  }
  span.end();
  return result;
}
