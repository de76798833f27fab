/**
 * The PDP's Prometheus metrics, on a registry of their own (never prom-client's global one).
 *
 * Every label comes from a closed set: decision kinds and reason codes are unions in code, store
 * names and operations are the store interfaces' methods, sink names and issuers come from the
 * configuration. No request field (user, tool, session, token) ever becomes a label.
 *
 * Decisions and store calls are counted as they happen; everything the PDP already counts (audit,
 * policy reloads, admission, token cache, IdP breakers) is read when Prometheus scrapes, so
 * metrics cost nothing between scrapes.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { AuditLog } from "../audit/types.js";
import type { Admission } from "../decision/admission.js";
import type { DecisionEvent, DecisionObserver, ShadowEvent } from "../decision/decision-observer.js";
import type { TokenVerifier } from "../identity/types.js";
import type { ShadowStatus } from "../policy/shadow-policy.js";
import type { PolicyStatus } from "../policy/types.js";
import type { StoreCallObserver } from "./instrument-store.js";
import type { Readiness } from "./readiness.js";

/** Where the scraped values come from; each is optional (a test may give only some). */
export interface MetricSources {
  readonly audit?: Pick<AuditLog, "stats">;
  readonly policy?: { status(): PolicyStatus };
  readonly admission?: Pick<Admission, "inFlight" | "limit" | "refused">;
  readonly verifier?: Pick<TokenVerifier, "cacheStats" | "idpStatus">;
  readonly readiness?: Pick<Readiness, "report">;
  /** The shadow policy set (`policies.shadowDir`), when one is configured. */
  readonly shadow?: { status(): ShadowStatus };
}

/** The PDP's metrics: a decision observer, a store-call observer, and the registry to scrape. */
export interface PdpMetrics extends DecisionObserver, StoreCallObserver {
  readonly registry: Registry;
}

/** Latency buckets in seconds: 250 µs … 5 s (a decision is well under a millisecond on a quiet machine). */
export const DECISION_BUCKETS = [0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5];

type Labels = Record<string, string>;

/** A counter whose value is a total the PDP already keeps, read at scrape time. */
function totalCounter(registry: Registry, name: string, help: string, labelNames: readonly string[], read: () => Iterable<readonly [Labels, number]>): void {
  new Counter({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, value] of read()) this.inc(labels, value);
    },
  });
}

/** A gauge read at scrape time. */
function readGauge(registry: Registry, name: string, help: string, labelNames: readonly string[], read: () => Iterable<readonly [Labels, number]>): void {
  new Gauge({
    name,
    help,
    labelNames,
    registers: [registry],
    collect() {
      this.reset();
      for (const [labels, value] of read()) this.set(labels, value);
    },
  });
}

/** Builds the metrics on a new registry, with Node's process metrics (`collectDefaultMetrics`). */
export function createPdpMetrics(sources: MetricSources = {}): PdpMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });

  const decisions = new Counter({
    name: "mcp_pdp_decisions_total",
    help: "Decisions made, by kind, outcome and reason code.",
    labelNames: ["kind", "decision", "reason_code"],
    registers: [registry],
  });
  const latency = new Histogram({
    name: "mcp_pdp_decision_duration_seconds",
    help: "Time from the door receiving a request to its decision being recorded, by kind.",
    labelNames: ["kind"],
    buckets: DECISION_BUCKETS,
    registers: [registry],
  });
  const storeCalls = new Counter({
    name: "mcp_pdp_store_operations_total",
    help: "Calls to the state stores (each one round trip to Redis with the Redis store), by store and operation.",
    labelNames: ["store", "operation"],
    registers: [registry],
  });
  const storeFailures = new Counter({
    name: "mcp_pdp_store_failures_total",
    help: "Store calls that failed (unreachable, deadline passed), by store and operation.",
    labelNames: ["store", "operation"],
    registers: [registry],
  });

  const shadowEvaluations = new Counter({
    name: "mcp_pdp_shadow_evaluations_total",
    help: "Policy decisions evaluated again under the shadow policy set, by kind and whether it agreed (decision, reason code and policies).",
    labelNames: ["kind", "result"],
    registers: [registry],
  });
  const shadowFlips = new Counter({
    name: "mcp_pdp_shadow_flips_total",
    help: "Decisions the shadow policy set would have decided the other way, by direction (allow_to_deny, deny_to_allow).",
    labelNames: ["direction"],
    registers: [registry],
  });

  const firstSeen = new Counter({
    name: "mcp_pdp_first_seen_total",
    help: "Relations seen for the first time within the look-back window when a session opened (third-party trust expansion), by relation: client_for_user, agent_at_server, client_at_server, idp_for_server, new_scopes, broker_path.",
    labelNames: ["relation"],
    registers: [registry],
  });
  const noveltyEvicted = new Counter({
    name: "mcp_pdp_novelty_evicted_total",
    help: "Relations the novelty store evicted (oldest sighting first) because it was at novelty.maxEntries.",
    registers: [registry],
  });

  const { audit, policy, admission, verifier, readiness, shadow } = sources;
  if (shadow) {
    readGauge(registry, "mcp_pdp_shadow_info", "The shadow policy version in force (value 1; the version is a label); absent while shadow evaluation is off.", ["version"], () => {
      const v = shadow.status().version;
      return v === undefined ? [] : [[{ version: v }, 1]];
    });
    readGauge(registry, "mcp_pdp_shadow_on", "1 while a shadow policy set is in force, else 0.", [], () => [[{}, shadow.status().on ? 1 : 0]]);
    totalCounter(registry, "mcp_pdp_shadow_reload_refusals_total", "Shadow policy sets refused (invalid; the shadow set in force, or none, stayed).", [], () => [[{}, shadow.status().refusals]]);
  }
  if (verifier) {
    const cache = (field: "hits" | "misses") => () => Object.entries(verifier.cacheStats()).map(([kind, c]) => [{ kind }, c[field]] as const);
    totalCounter(registry, "mcp_pdp_token_cache_hits_total", "Token presentations answered from the verified-token cache, by token kind.", ["kind"], cache("hits"));
    totalCounter(registry, "mcp_pdp_token_cache_misses_total", "Token presentations verified afresh, by token kind.", ["kind"], cache("misses"));
    const idps = () => verifier.idpStatus();
    readGauge(registry, "mcp_pdp_idp_up", "1 while an identity provider's JWKS endpoint is usable, 0 while its breaker is open (down or probing).", ["issuer", "jwks_uri"], () =>
      idps().map((s) => [{ issuer: s.issuer, jwks_uri: s.jwksUri }, s.state === "up" ? 1 : 0] as const),
    );
    totalCounter(registry, "mcp_pdp_idp_fetch_failures_total", "Failed JWKS fetches (calls' and probes').", ["issuer", "jwks_uri"], () =>
      idps().map((s) => [{ issuer: s.issuer, jwks_uri: s.jwksUri }, s.failures] as const),
    );
    totalCounter(registry, "mcp_pdp_idp_fetches_refused_total", "JWKS fetches refused at once because the breaker was open (DENY IDP_UNAVAILABLE without waiting).", ["issuer", "jwks_uri"], () =>
      idps().map((s) => [{ issuer: s.issuer, jwks_uri: s.jwksUri }, s.rejected] as const),
    );
  }
  if (audit) {
    const sinks = () => Object.entries(audit.stats().sinks);
    readGauge(registry, "mcp_pdp_audit_buffered_records", "Decision records waiting to be written, by sink.", ["sink"], () => sinks().map(([sink, s]) => [{ sink }, s.buffered] as const));
    readGauge(registry, "mcp_pdp_audit_buffered_bytes", "Estimated bytes of the records waiting to be written, by sink.", ["sink"], () => sinks().map(([sink, s]) => [{ sink }, s.bufferedBytes] as const));
    totalCounter(registry, "mcp_pdp_audit_written_total", "Decision records written, by sink.", ["sink"], () => sinks().map(([sink, s]) => [{ sink }, s.written] as const));
    totalCounter(registry, "mcp_pdp_audit_dropped_total", "Decision records dropped (buffer full, or lost at close), by sink.", ["sink"], () => sinks().map(([sink, s]) => [{ sink }, s.dropped] as const));
    totalCounter(registry, "mcp_pdp_audit_write_failures_total", "Failed batch writes (retried), by sink.", ["sink"], () => sinks().map(([sink, s]) => [{ sink }, s.failures] as const));
    totalCounter(registry, "mcp_pdp_audit_chain_retries_total", "Hash-chain appends retried because another replica moved the chain head, by sink.", ["sink"], () =>
      sinks().map(([sink, s]) => [{ sink }, s.chainRetries] as const),
    );
    totalCounter(registry, "mcp_pdp_audit_durable_failures_total", "ALLOWs whose durable audit write failed (turned into DENY AUDIT_UNAVAILABLE).", [], () => [[{}, audit.stats().durableFailures]]);
  }
  if (policy) {
    readGauge(registry, "mcp_pdp_policy_info", "The policy version in force (value 1; the version is a label).", ["version"], () => [[{ version: policy.status().version }, 1]]);
    readGauge(registry, "mcp_pdp_policy_loaded_timestamp_seconds", "When the policy version in force was loaded.", [], () => [[{}, policy.status().loadedAt.getTime() / 1000]]);
    totalCounter(registry, "mcp_pdp_policy_reloads_total", "Reloads that brought a new policy version into force.", [], () => [[{}, policy.status().reloads ?? 0]]);
    totalCounter(registry, "mcp_pdp_policy_reload_refusals_total", "Reloads refused (the version in force stayed).", [], () => [[{}, policy.status().refusals ?? 0]]);
    readGauge(registry, "mcp_pdp_policy_refusing", "1 while the files on disk are refused (the last reload failed), else 0.", [], () => [[{}, policy.status().refusing ? 1 : 0]]);
  }
  if (admission) {
    readGauge(registry, "mcp_pdp_decisions_in_flight", "Decisions in flight in this process.", [], () => [[{}, admission.inFlight]]);
    readGauge(registry, "mcp_pdp_decisions_in_flight_limit", "The bound on decisions in flight (maxInFlight).", [], () => [[{}, admission.limit]]);
    totalCounter(registry, "mcp_pdp_overloaded_total", "Decisions answered DENY OVERLOADED because the bound was reached.", [], () => [[{}, admission.refused]]);
  }
  if (readiness) {
    const report = () => readiness.report();
    readGauge(registry, "mcp_pdp_ready", "1 while the decision services are SERVING, else 0.", [], () => [[{}, report().ready ? 1 : 0]]);
    readGauge(registry, "mcp_pdp_store_up", "1 while the state store answers, else 0.", [], () => [[{}, report().checks.store.ok ? 1 : 0]]);
  }

  return {
    registry,
    decided(e: DecisionEvent) {
      decisions.inc({ kind: e.kind, decision: e.allow ? "ALLOW" : "DENY", reason_code: e.reasonCode });
      latency.observe({ kind: e.kind }, e.latencyUs / 1e6);
      if (e.firstSeen) for (const relation of e.firstSeen) firstSeen.inc({ relation });
    },
    noveltyEvicted(count: number) {
      noveltyEvicted.inc(count);
    },
    shadowed(e: ShadowEvent) {
      shadowEvaluations.inc({ kind: e.kind, result: e.agree ? "agree" : "disagree" });
      if (e.flip) shadowFlips.inc({ direction: e.flip });
    },
    storeCall(store, operation, ok) {
      storeCalls.inc({ store, operation });
      if (!ok) storeFailures.inc({ store, operation });
    },
  };
}
