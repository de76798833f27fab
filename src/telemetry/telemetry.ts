/**
 * Metrics, traces and readiness for one PDP, put together: the composition root hands over the
 * parts it built, and gets back the same parts instrumented (to hand to the decision core), a
 * decision observer, the readiness model and the HTTP routes. With metrics and tracing both off,
 * the parts come back unwrapped.
 */
import { context, trace } from "@opentelemetry/api";
import type { SpanExporter } from "@opentelemetry/sdk-trace-node";
import type { Logger } from "pino";
import type { AuditLog } from "../audit/types.js";
import type { Admission } from "../decision/admission.js";
import type { DecisionCoreDeps } from "../decision/decision-core.js";
import type { DecisionEvent, DecisionObserver } from "../decision/decision-observer.js";
import type { PolicyStatus } from "../policy/types.js";
import type { MetricsConfig, TracingConfig } from "./config.js";
import { createTelemetryRoutes, type TelemetryRequestHandler } from "./http-routes.js";
import { instrumentStore } from "./instrument-store.js";
import { createPdpMetrics, type PdpMetrics } from "./pdp-metrics.js";
import { createReadiness, type Readiness } from "./readiness.js";
import { startTracing } from "./start-tracing.js";
import { tracedAudit, tracedPolicy, tracedVerifier } from "./traced.js";
import type { Tracing } from "./tracing.js";
import type { ShadowStatus } from "../policy/shadow-policy.js";

/** The parts the decision core is built from that telemetry instruments, as the composition root made them. */
export type CoreParts = Pick<DecisionCoreDeps, "verifier" | "policy" | "state" | "sessions" | "revocations" | "approvals" | "audit" | "novelty">;

/** What {@link createTelemetry} reads. */
export interface TelemetryDeps {
  readonly metrics: MetricsConfig;
  readonly tracing: TracingConfig;
  /** Tests: export spans here (e.g. the SDK's InMemorySpanExporter); turns tracing on. */
  readonly spanExporter?: SpanExporter;
  readonly parts: CoreParts;
  readonly audit: Pick<AuditLog, "stats">;
  readonly policyStatus: () => PolicyStatus;
  /** The shadow policy set's status, when `policies.shadowDir` is configured. */
  readonly shadowStatus?: () => ShadowStatus;
  readonly admission: Pick<Admission, "inFlight" | "limit" | "refused">;
  readonly store: { readonly backend: string; healthy(): boolean };
  /** Operational log: tracing's own warnings (a failed export). */
  readonly logger: Pick<Logger, "warn">;
}

/** The PDP's telemetry. */
export interface Telemetry {
  /** The core's parts, instrumented (or as given, with metrics and tracing off). */
  readonly parts: CoreParts;
  /** Told about every decision (metrics, the RPC span's attributes). */
  readonly observer: DecisionObserver | undefined;
  readonly metrics: PdpMetrics | undefined;
  readonly tracing: Tracing | undefined;
  readonly readiness: Readiness;
  /** `/metrics`, `/healthz`, `/readyz` for the PDP's HTTP server. */
  readonly handleRequest: TelemetryRequestHandler;
  /** Flushes spans not yet exported; never rejects (a failed export is logged). */
  close(): Promise<void>;
}

/** Sets the decision's outcome as attributes of the active (RPC) span. */
const spanAnnotator: DecisionObserver = {
  decided(e: DecisionEvent) {
    trace.getSpan(context.active())?.setAttributes({ "mcppdp.decision_kind": e.kind, "mcppdp.decision": e.allow ? "ALLOW" : "DENY", "mcppdp.reason_code": e.reasonCode });
  },
};

function both(a: DecisionObserver | undefined, b: DecisionObserver | undefined): DecisionObserver | undefined {
  if (!a || !b) return a ?? b;
  return {
    decided(e) {
      a.decided(e);
      b.decided(e);
    },
    shadowed(e) {
      a.shadowed?.(e);
      b.shadowed?.(e);
    },
    noveltyEvicted(n) {
      a.noveltyEvicted?.(n);
      b.noveltyEvicted?.(n);
    },
  };
}

/** Builds the telemetry; starts tracing (loading the SDK) only when it is configured. */
export async function createTelemetry(deps: TelemetryDeps): Promise<Telemetry> {
  const { parts } = deps;
  const readiness = createReadiness({
    policy: () => deps.policyStatus(),
    store: deps.store,
    idps: () => parts.verifier.idpStatus(),
    admission: deps.admission,
  });
  const tracing = await startTracing(deps.tracing, { logger: deps.logger, ...(deps.spanExporter && { exporter: deps.spanExporter }) });
  const metrics = deps.metrics.enabled
    ? createPdpMetrics({
        audit: deps.audit,
        policy: { status: deps.policyStatus },
        admission: deps.admission,
        verifier: parts.verifier,
        readiness,
        ...(deps.shadowStatus && { shadow: { status: deps.shadowStatus } }),
      })
    : undefined;
  const instrumented: CoreParts =
    metrics || tracing
      ? {
          verifier: tracing ? tracedVerifier(parts.verifier, tracing) : parts.verifier,
          policy: tracing ? tracedPolicy(parts.policy, tracing) : parts.policy,
          state: instrumentStore(parts.state, "state", metrics, tracing),
          sessions: instrumentStore(parts.sessions, "sessions", metrics, tracing),
          revocations: instrumentStore(parts.revocations, "revocations", metrics, tracing),
          approvals: instrumentStore(parts.approvals, "approvals", metrics, tracing),
          audit: tracing ? tracedAudit(parts.audit, tracing) : parts.audit,
          ...(parts.novelty && { novelty: instrumentStore(parts.novelty, "novelty", metrics, tracing) }),
        }
      : parts;
  return {
    parts: instrumented,
    observer: both(metrics, tracing && spanAnnotator),
    metrics,
    tracing,
    readiness,
    handleRequest: createTelemetryRoutes({ ...(metrics && { registry: metrics.registry }), readiness }),
    close: async () => {
      await tracing?.shutdown().catch((err: unknown) => deps.logger.warn({ err: (err as Error)?.message }, "tracing: spans not exported at stop"));
    },
  };
}
