/** The `policies` keys (settle, manifest, removals) as the config loader reads them. */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { loadConfig } from "../../src/config/load-config.js";
import { PdpError } from "../../src/errors.js";

const PRODUCTION = {
  mode: "production",
  allowPlaintext: true,
  identity: {
    userIssuers: [{ issuer: "https://login.example.org", sharedSecret: "c2VjcmV0LXNlY3JldC1zZWNyZXQ" }],
    workloadIssuers: [{ issuer: "https://spire.example.org", sharedSecret: "c2VjcmV0LXNlY3JldC1zZWNyZXQ", trustDomains: ["prod.example.org"] }],
    callerIssuers: [{ issuer: "https://callers.example.org", sharedSecret: "c2VjcmV0LXNlY3JldC1zZWNyZXQ" }],
  },
};
const invalid = (message: RegExp) => (err: unknown) => err instanceof PdpError && err.code === "CONFIG_INVALID" && message.test(err.message);

describe("policies config", { timeout: 30_000 }, () => {
  test("defaults: quiet 1 s, settle bound 30 s, no manifest required; removals allowed in development, refused in production", () => {
    const dev = loadConfig({ env: {} }).policies;
    assert.deepEqual(dev, { quietMs: 1000, settleTimeoutMs: 30_000, requireManifest: false, unannouncedRemovals: "allow" });
    assert.equal(loadConfig({ env: {}, overrides: PRODUCTION }).policies.unannouncedRemovals, "refuse");
  });

  test("values are read, from the file and from MCP_PDP_POLICIES_REQUIRE_MANIFEST", () => {
    const p = loadConfig({
      env: { MCP_PDP_POLICIES_REQUIRE_MANIFEST: "true" },
      overrides: { ...PRODUCTION, policies: { quietMs: 200, settleTimeoutMs: 5000, unannouncedRemovals: "allow" } },
    }).policies;
    assert.deepEqual(p, { quietMs: 200, settleTimeoutMs: 5000, requireManifest: true, unannouncedRemovals: "allow" });
  });

  test("invalid values are refused, naming the key", () => {
    assert.throws(() => loadConfig({ env: {}, overrides: { policies: { quietMs: -1 } } }), invalid(/policies\.quietMs/));
    assert.throws(() => loadConfig({ env: {}, overrides: { policies: { unannouncedRemovals: "maybe" } } }), invalid(/policies\.unannouncedRemovals/));
    assert.throws(() => loadConfig({ env: {}, overrides: { policies: { quietMs: 5000, settleTimeoutMs: 1000 } } }), invalid(/policies\.settleTimeoutMs/));
  });
});
