/** The HTTP listener's settings: its computed defaults (on in development, off in production unless configured) and its rules. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { loadConfig } from "../../src/config/load-config.js";
import { PdpError } from "../../src/errors.js";

const production = {
  mode: "production",
  allowPlaintext: true,
  identity: {
    userIssuers: [{ issuer: "https://login.example.org", jwksUri: "https://login.example.org/jwks" }],
    workloadIssuers: [{ issuer: "https://spire.example.org", jwksUri: "https://spire.example.org/keys", trustDomains: ["prod.example.org"] }],
    callerIssuers: [{ issuer: "https://login.example.org", jwksUri: "https://login.example.org/jwks" }],
  },
};

test("development: on at the gRPC listener's host, port 50052 — or any free port when the gRPC port is 0", { timeout: 30_000 }, () => {
  const dev = loadConfig({ env: {} });
  assert.deepEqual([dev.http.enabled, dev.http.host, dev.http.port], [true, "127.0.0.1", 50052]);
  assert.equal(loadConfig({ env: {}, overrides: { port: 0 } }).http.port, 0);
  assert.equal(loadConfig({ env: { MCP_PDP_HTTP_PORT: "50099" }, overrides: { port: 0 } }).http.port, 50099);
  assert.equal(loadConfig({ env: { MCP_PDP_HTTP_ENABLED: "false" } }).http.enabled, false);
  assert.deepEqual(loadConfig({ env: { MCP_PDP_HTTP_CLAIM_ASSERTERS: "https://gw.example.org,spiffe://x/gw" } }).http.claimAsserters, ["https://gw.example.org", "spiffe://x/gw"]);
});

test("production: off unless http.port or http.enabled is set", { timeout: 30_000 }, () => {
  assert.equal(loadConfig({ env: {}, overrides: production }).http.enabled, false);
  const withPort = loadConfig({ env: { MCP_PDP_HTTP_PORT: "8443" }, overrides: production });
  assert.deepEqual([withPort.http.enabled, withPort.http.port], [true, 8443]);
  assert.equal(loadConfig({ env: {}, overrides: { ...production, http: { enabled: true } } }).http.port, 50052);
});

test("development mode refuses an HTTP listener off loopback, and bad values name the key", { timeout: 30_000 }, () => {
  const message = (options: Parameters<typeof loadConfig>[0]) => {
    try {
      loadConfig(options);
    } catch (err) {
      assert.ok(err instanceof PdpError);
      return err.message;
    }
    assert.fail("accepted");
  };
  assert.match(message({ env: { MCP_PDP_HTTP_HOST: "0.0.0.0" } }), /development mode listens on loopback only, not on "0\.0\.0\.0"/);
  assert.match(message({ env: { MCP_PDP_HTTP_PORT: "70000" } }), /http\.port: .*65535.*MCP_PDP_HTTP_PORT/);
  assert.match(message({ env: {}, overrides: { http: { maxBodyBytes: 10 } } }), /http\.maxBodyBytes/);
  assert.match(message({ env: {}, overrides: { http: { baseUrl: "ftp://pdp" } } }), /http\.baseUrl/);
});
