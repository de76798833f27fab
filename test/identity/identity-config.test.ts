/** The identity keys of issue 12 as the config loader reads them: defaults, values, refusals. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { loadConfig } from "../../src/config/load-config.js";
import { PdpError } from "../../src/errors.js";

const load = (identity: Record<string, unknown>) => loadConfig({ env: {}, overrides: { identity } }).identity;
const invalid = (message: RegExp) => (err: unknown) => err instanceof PdpError && err.code === "CONFIG_INVALID" && message.test(err.message);

describe("identity config: IdP breaker and exact audience", { timeout: 30_000 }, () => {
  test("defaults", () => {
    const identity = load({});
    assert.equal(identity.jwksFailureThreshold, 1);
    assert.equal(identity.jwksProbeIntervalMs, 1000);
    assert.equal(identity.jwksProbeMaxIntervalMs, 5000);
    assert.equal(identity.requireExactAudience, false);
  });

  test("values are read", () => {
    const identity = load({ jwksFailureThreshold: 3, jwksProbeIntervalMs: 500, jwksProbeMaxIntervalMs: 8000, requireExactAudience: true });
    assert.equal(identity.jwksFailureThreshold, 3);
    assert.equal(identity.jwksProbeIntervalMs, 500);
    assert.equal(identity.jwksProbeMaxIntervalMs, 8000);
    assert.equal(identity.requireExactAudience, true);
  });

  test("a probe interval above 5 s raises the default maximum with it", () => {
    assert.equal(load({ jwksProbeIntervalMs: 60_000 }).jwksProbeMaxIntervalMs, 60_000);
  });

  test("invalid values are refused, naming the key", () => {
    assert.throws(() => load({ jwksFailureThreshold: 0 }), invalid(/identity\.jwksFailureThreshold/));
    assert.throws(() => load({ jwksProbeIntervalMs: 5 }), invalid(/identity\.jwksProbeIntervalMs/));
    assert.throws(() => load({ jwksProbeIntervalMs: 2000, jwksProbeMaxIntervalMs: 1000 }), invalid(/identity\.jwksProbeMaxIntervalMs/));
    assert.throws(() => load({ requireExactAudience: "sometimes" }), invalid(/identity\.requireExactAudience/));
  });
});
