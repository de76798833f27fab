/**
 * W3C trace context (https://www.w3.org/TR/trace-context/) carried from an MCP request to the PDP:
 * read from the request's `params._meta` (`traceparent`, `tracestate`, as MCP clients that trace
 * send them), or else from the host's OpenTelemetry context when it has one, and sent to the PDP
 * as gRPC metadata so that the PDP's spans join the caller's trace.
 */
import { context, propagation } from "@opentelemetry/api";
import { Metadata } from "@grpc/grpc-js";

/** A trace context to send with a PDP call. */
export interface TraceContext {
  readonly traceparent: string;
  readonly tracestate?: string;
}

/** `version-traceid-parentid-flags`, lower-case hex; version ff is invalid. */
const TRACEPARENT = /^(?!ff)[0-9a-f]{2}-(?!0{32})[0-9a-f]{32}-(?!0{16})[0-9a-f]{16}-[0-9a-f]{2}$/;
/** The most `tracestate` forwarded (the spec's limit is 32 members; 512 characters is what it asks to keep). */
const MAX_TRACESTATE = 512;

/** The context when `traceparent` is well formed (and `tracestate` printable and short); else undefined. */
export function validTraceContext(traceparent: unknown, tracestate?: unknown): TraceContext | undefined {
  if (typeof traceparent !== "string" || !TRACEPARENT.test(traceparent)) return undefined;
  const state = typeof tracestate === "string" && tracestate.length <= MAX_TRACESTATE && /^[\x20-\x7e]*$/.test(tracestate) ? tracestate : undefined;
  return state ? { traceparent, tracestate: state } : { traceparent };
}

/** The trace context in an MCP request's `params._meta`, if any. */
export function traceContextOfParams(params: unknown): TraceContext | undefined {
  const meta = params !== null && typeof params === "object" ? (params as { _meta?: unknown })._meta : undefined;
  if (meta === null || typeof meta !== "object") return undefined;
  const m = meta as Record<string, unknown>;
  return validTraceContext(m.traceparent, m.tracestate);
}

/**
 * gRPC metadata carrying `trace`, or, without it, the host's active OpenTelemetry context
 * (injected by the globally registered propagator; nothing when the host does not trace).
 */
export function traceMetadata(trace: TraceContext | undefined): Metadata | undefined {
  const carrier: Record<string, string> = {};
  if (trace) Object.assign(carrier, trace);
  else propagation.inject(context.active(), carrier);
  const parent = validTraceContext(carrier.traceparent, carrier.tracestate);
  if (!parent) return undefined;
  const md = new Metadata();
  md.set("traceparent", parent.traceparent);
  if (parent.tracestate) md.set("tracestate", parent.tracestate);
  return md;
}
