/**
 * The readiness model: may this PDP be sent decisions now? One answer for gRPC health, `/readyz`
 * and the `mcp_pdp_ready` metric.
 *
 * NOT_SERVING (decisions would be DENY for a reason the caller cannot fix by retrying here):
 * - `starting` / `stopping`: not started yet, or shutting down;
 * - `policy`: no policy set in force;
 * - `store`: the state store does not answer (every decision would be DENY STORE_UNAVAILABLE);
 * - `idp`: an identity provider's JWKS breaker is open (tokens needing its keys are DENY
 *   IDP_UNAVAILABLE) — the breaker probes in the background and readiness returns with it.
 *
 * SERVING but degraded (decisions are made; an operator should look):
 * - `overload`: a decision was answered DENY OVERLOADED within the last `overloadWindowMs`, or
 *   every admission place is taken now (taking the replica out of rotation for a burst would only
 *   move the burst elsewhere and make readiness flap);
 * - `policy_refused`: the files on disk were refused at the last reload; the last good version
 *   stays in force.
 */
import type { Admission } from "../decision/admission.js";
import type { IdpStatus } from "../identity/types.js";
import type { PolicyStatus } from "../policy/types.js";

/** Why the PDP is not serving, or what is degraded. */
export type ReadinessReason = "starting" | "stopping" | "policy" | "store" | "idp" | "overload" | "policy_refused";

/** What the readiness model reads. */
export interface ReadinessSources {
  /** The policy set in force (undefined: none). */
  readonly policy: () => Pick<PolicyStatus, "version" | "refusing"> | undefined;
  /** The state store's backend and whether it answers. */
  readonly store: { readonly backend: string; healthy(): boolean };
  /** Every identity provider whose keys are fetched, and its breaker state. */
  readonly idps: () => readonly IdpStatus[];
  readonly admission: Pick<Admission, "inFlight" | "limit" | "refused">;
  /** Monotonic clock in ms. Default `performance.now()`. */
  readonly now?: () => number;
  /** How long an OVERLOADED answer keeps readiness degraded, in ms. Default 10000. */
  readonly overloadWindowMs?: number;
}

/** The readiness report (the `/readyz` body). */
export interface ReadinessReport {
  /** SERVING: decisions can be made. */
  readonly status: "SERVING" | "NOT_SERVING";
  readonly ready: boolean;
  /** Why it is NOT_SERVING (empty when SERVING). */
  readonly reasons: readonly ReadinessReason[];
  /** What is degraded while SERVING (or besides the reasons). */
  readonly degraded: readonly ReadinessReason[];
  readonly checks: {
    readonly policy: { readonly ok: boolean; readonly version?: string; readonly refusing: boolean };
    readonly store: { readonly ok: boolean; readonly backend: string };
    readonly idp: { readonly ok: boolean; readonly providers: readonly { readonly issuer: string; readonly jwksUri: string; readonly state: IdpStatus["state"]; readonly lastError?: string }[] };
    readonly overload: { readonly ok: boolean; readonly inFlight: number; readonly limit: number; readonly refused: number };
  };
}

/** The readiness model of one PDP process. */
export interface Readiness {
  /** The report now. */
  report(): ReadinessReport;
  /** Marks the PDP started (until then NOT_SERVING `starting`). */
  started(): void;
  /** Marks the PDP stopping: NOT_SERVING `stopping` from now on. */
  stopping(): void;
  /**
   * Re-reads the sources and calls the listeners when `ready` changed (the app calls it when the
   * store or an IdP changes state). Returns the report.
   */
  refresh(): ReadinessReport;
  /** Calls `listener` whenever `ready` changes; returns the unsubscribe function. */
  onChange(listener: (report: ReadinessReport) => void): () => void;
}

/** Builds the readiness model over its sources. */
export function createReadiness(sources: ReadinessSources): Readiness {
  const now = sources.now ?? (() => performance.now());
  const windowMs = sources.overloadWindowMs ?? 10_000;
  const listeners = new Set<(report: ReadinessReport) => void>();
  let phase: "starting" | "running" | "stopping" = "starting";
  let lastRefused = sources.admission.refused;
  let lastOverloadAt = -Infinity;
  let lastReady: boolean | undefined;

  function report(): ReadinessReport {
    const policy = sources.policy();
    const storeOk = sources.store.healthy();
    const providers = sources.idps().map((s) => ({ issuer: s.issuer, jwksUri: s.jwksUri, state: s.state, ...(s.lastError !== undefined && { lastError: s.lastError }) }));
    const idpOk = providers.every((p) => p.state === "up");
    const { inFlight, limit, refused } = sources.admission;
    if (refused !== lastRefused) {
      lastRefused = refused;
      lastOverloadAt = now();
    }
    const overloadOk = inFlight < limit && now() - lastOverloadAt > windowMs;
    const reasons: ReadinessReason[] = [];
    if (phase !== "running") reasons.push(phase);
    if (!policy) reasons.push("policy");
    if (!storeOk) reasons.push("store");
    if (!idpOk) reasons.push("idp");
    const degraded: ReadinessReason[] = [];
    if (!overloadOk) degraded.push("overload");
    if (policy?.refusing) degraded.push("policy_refused");
    const ready = reasons.length === 0;
    return {
      status: ready ? "SERVING" : "NOT_SERVING",
      ready,
      reasons,
      degraded,
      checks: {
        policy: { ok: policy !== undefined, ...(policy && { version: policy.version }), refusing: policy?.refusing ?? false },
        store: { ok: storeOk, backend: sources.store.backend },
        idp: { ok: idpOk, providers },
        overload: { ok: overloadOk, inFlight, limit, refused },
      },
    };
  }

  function refresh(): ReadinessReport {
    const r = report();
    if (r.ready !== lastReady) {
      lastReady = r.ready;
      for (const l of listeners) {
        try {
          l(r);
        } catch {
          // A listener (health, logs) never changes what readiness answers.
        }
      }
    }
    return r;
  }

  return {
    report,
    started() {
      if (phase === "starting") phase = "running";
      refresh();
    },
    stopping() {
      phase = "stopping";
      refresh();
    },
    refresh,
    onChange(listener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
  };
}
