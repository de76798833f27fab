/**
 * The readiness model alone, with an injected clock: what makes it NOT_SERVING, what only
 * degrades it, and when listeners hear of a change.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import type { IdpStatus } from "../../src/identity/types.js";
import { createReadiness } from "../../src/telemetry/readiness.js";

function sources() {
  const state = {
    ms: 1000,
    storeHealthy: true,
    refusing: false,
    idps: [] as IdpStatus[],
    admission: { inFlight: 0, limit: 4, refused: 0 },
  };
  const readiness = createReadiness({
    policy: () => ({ version: "v1", refusing: state.refusing }),
    store: { backend: "redis", healthy: () => state.storeHealthy },
    idps: () => state.idps,
    admission: state.admission,
    now: () => state.ms,
    overloadWindowMs: 10_000,
  });
  return { state, readiness };
}

test("starting and stopping are NOT_SERVING; running with everything up is SERVING", { timeout: 10_000 }, () => {
  const { readiness } = sources();
  assert.deepEqual(readiness.report().reasons, ["starting"]);
  readiness.started();
  const r = readiness.report();
  assert.equal(r.status, "SERVING");
  assert.deepEqual([r.reasons, r.degraded], [[], []]);
  readiness.stopping();
  assert.deepEqual(readiness.report().reasons, ["stopping"]);
});

test("store down or an IdP breaker open: NOT_SERVING with the reason; listeners hear each change once", { timeout: 10_000 }, () => {
  const { state, readiness } = sources();
  const heard: string[] = [];
  readiness.onChange((r) => heard.push(`${r.status}:${r.reasons.join(",")}`));
  readiness.started();
  state.storeHealthy = false;
  readiness.refresh();
  readiness.refresh();
  state.idps = [{ issuer: "https://idp", jwksUri: "https://idp/jwks", state: "probing", consecutiveFailures: 3, failures: 3, rejected: 9, lastError: "timed out" }];
  assert.deepEqual(readiness.refresh().reasons, ["store", "idp"]);
  state.storeHealthy = true;
  assert.deepEqual(readiness.refresh().reasons, ["idp"]);
  state.idps = [{ ...state.idps[0]!, state: "up" }];
  readiness.refresh();
  assert.deepEqual(heard, ["SERVING:", "NOT_SERVING:store", "SERVING:"]);
});

test("overload and a refused policy reload degrade readiness but keep it SERVING; overload clears after its window", { timeout: 10_000 }, () => {
  const { state, readiness } = sources();
  readiness.started();
  state.admission.inFlight = 4;
  assert.deepEqual(readiness.report().degraded, ["overload"]);
  state.admission.inFlight = 1;
  assert.deepEqual(readiness.report().degraded, []);
  state.admission.refused = 3; // three DENY OVERLOADED answers since the last look
  const r = readiness.report();
  assert.equal(r.status, "SERVING");
  assert.deepEqual(r.degraded, ["overload"]);
  assert.deepEqual(r.checks.overload, { ok: false, inFlight: 1, limit: 4, refused: 3 });
  state.ms += 9_000;
  assert.deepEqual(readiness.report().degraded, ["overload"]);
  state.ms += 2_000;
  assert.deepEqual(readiness.report().degraded, []);
  state.refusing = true;
  assert.deepEqual(readiness.report().degraded, ["policy_refused"]);
  assert.equal(readiness.report().ready, true);
});
