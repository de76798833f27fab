/** The gateway's config: defaults, CLI-style overrides, production's requirements, the command splitter. */
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { test } from "node:test";
import { loadGatewayConfig, routesOf, splitCommand } from "../../src/gateway/config.js";
import { resourceMetadataUrl } from "../../src/gateway/protected-resource.js";
import { peerAgentTokens } from "../../src/gateway/peer-agent.js";
import { PdpError } from "../../src/errors.js";

const upstream = { command: "node", args: ["server.js"] };

test("development defaults: loopback, /mcp, the dev issuer as authorization server, loopback hosts, lists hidden", () => {
  const c = loadGatewayConfig({ env: {}, overrides: { upstream } });
  assert.equal(c.mode, "development");
  assert.equal(c.host, "127.0.0.1");
  assert.equal(c.port, 8080);
  assert.equal(c.path, "/mcp");
  assert.equal(c.pdp.address, "127.0.0.1:50051");
  assert.deepEqual(c.authorizationServers, ["https://dev-issuer.mcp-pdp.invalid"]);
  assert.deepEqual(c.allowedHosts, ["localhost", "127.0.0.1", "[::1]"]);
  assert.equal(c.listDenied, "hide");
});

test("MCP_PDP_ADDRESS names the PDP unless the config does", () => {
  assert.equal(loadGatewayConfig({ env: { MCP_PDP_ADDRESS: "pdp:50051" }, overrides: { upstream } }).pdp.address, "pdp:50051");
  assert.equal(loadGatewayConfig({ env: { MCP_PDP_ADDRESS: "pdp:50051" }, overrides: { upstream, pdp: { address: "x:1" } } }).pdp.address, "x:1");
});

test("exactly one of upstream.command and upstream.url", () => {
  assert.throws(() => loadGatewayConfig({ env: {}, overrides: { upstream: {} } }), /exactly one of upstream.command and upstream.url/);
  assert.throws(() => loadGatewayConfig({ env: {}, overrides: { upstream: { command: "x", url: "http://127.0.0.1:1/mcp" } } }), /exactly one/);
  assert.throws(() => loadGatewayConfig({ env: {}, overrides: {} }), /upstream/);
});

test("unknown keys are errors", () => {
  assert.throws(() => loadGatewayConfig({ env: {}, overrides: { upstream, prot: 1 } }), /prot/);
});

test("development mode refuses a non-loopback host unless developmentAnyHost (inside a container)", () => {
  assert.throws(() => loadGatewayConfig({ env: {}, overrides: { upstream, host: "10.0.0.5" } }), /loopback/);
  assert.throws(() => loadGatewayConfig({ env: {}, overrides: { upstream, host: "0.0.0.0" } }), /loopback/);
  assert.equal(loadGatewayConfig({ env: {}, overrides: { upstream, host: "0.0.0.0", developmentAnyHost: true } }).host, "0.0.0.0");
});

test("production mode needs an agent token, user issuers and a resource, and refuses the dev issuer", () => {
  const err = (() => {
    try {
      loadGatewayConfig({ env: {}, overrides: { upstream, mode: "production", userIssuers: [{ issuer: "https://dev-issuer.mcp-pdp.invalid", jwksUri: "https://x.example/jwks" }] } });
    } catch (e) {
      return (e as Error).message;
    }
    return "";
  })();
  assert.match(err, /agent.workloadToken/);
  assert.match(err, /development issuer is refused/);
  assert.match(err, /needs resource/);
});

test("splitCommand honours quotes", () => {
  assert.deepEqual(splitCommand(`npx -y "@scope/server thing" 'a b' c`), ["npx", "-y", "@scope/server thing", "a b", "c"]);
});

test("the protected-resource metadata URL inserts the well-known path before the resource's path (RFC 9728 §3.1)", () => {
  assert.equal(resourceMetadataUrl("https://h.example/mcp"), "https://h.example/.well-known/oauth-protected-resource/mcp");
  assert.equal(resourceMetadataUrl("https://h.example/"), "https://h.example/.well-known/oauth-protected-resource");
  assert.equal(resourceMetadataUrl("http://127.0.0.1:8080/a/b"), "http://127.0.0.1:8080/.well-known/oauth-protected-resource/a/b");
});

test("several upstreams: each at its own path; paths unique; production needs each one's resource; a CLI upstream replaces them", () => {
  const upstreams = [
    { path: "/a/mcp", upstream },
    { path: "/b/mcp", upstream: { url: "http://127.0.0.1:9/mcp" } },
  ];
  const c = loadGatewayConfig({ env: {}, overrides: { upstreams } });
  assert.deepEqual(routesOf(c).map((r) => [r.path, r.defaultPurpose]), [["/a/mcp", "research"], ["/b/mcp", "research"]]);
  assert.throws(() => loadGatewayConfig({ env: {}, overrides: { upstreams: [upstreams[0], upstreams[0]] } }), /path \/a\/mcp is used twice/);
  const file = path.join(mkdtempSync(path.join(tmpdir(), "gateway-config-")), "gateway.json");
  writeFileSync(file, JSON.stringify({ upstreams, upstream }));
  assert.throws(() => loadGatewayConfig({ env: {}, file }), /exactly one of upstream and upstreams/);
  writeFileSync(file, JSON.stringify({ upstreams }));
  assert.deepEqual(routesOf(loadGatewayConfig({ env: {}, file, overrides: { upstream } })).map((r) => r.path), ["/mcp"], "--upstream-command replaces the file's upstreams");
  assert.throws(
    () => loadGatewayConfig({ env: {}, overrides: { upstreams, mode: "production", agent: { workloadToken: "t" }, userIssuers: [{ issuer: "https://idp.example", jwksUri: "https://idp.example/jwks" }] } }),
    /upstreams.0.resource: production mode needs each upstream's resource/,
  );
  assert.throws(() => loadGatewayConfig({ env: {}, overrides: { upstreams: [{ path: "/a/", upstream }] } }), /no trailing slash/);
});

test("tls: strict keys, file names resolved against the config file, production needs a peer-agent signer with client certificates", () => {
  assert.throws(() => loadGatewayConfig({ env: {}, overrides: { upstream, tls: { certFile: "c.pem", keyFile: "k.pem", clientCA: "x" } } }), /clientCA/);
  const dir = mkdtempSync(path.join(tmpdir(), "mcp-pdp-gw-tls-"));
  const file = path.join(dir, "gateway.json");
  writeFileSync(file, JSON.stringify({ upstream, tls: { certFile: "c.pem", keyFile: "k.pem", clientCaFile: "ca.pem" } }));
  const c = loadGatewayConfig({ env: {}, file });
  assert.equal(c.tls?.clientCaFile, path.join(dir, "ca.pem"));
  assert.equal(c.tls?.requireClientCert, false);
  const production = { upstream, mode: "production", resource: "https://gw.example/mcp", agent: { workloadToken: "t" }, userIssuers: [{ issuer: "https://idp.example", jwksUri: "https://idp.example/jwks" }] };
  assert.throws(() => loadGatewayConfig({ env: {}, overrides: { ...production, tls: { certFile: "c.pem", keyFile: "k.pem", clientCaFile: "ca.pem" } } }), /peerAgentSigner/);
  const signed = loadGatewayConfig({
    env: {},
    overrides: { ...production, tls: { certFile: "c.pem", keyFile: "k.pem", clientCaFile: "ca.pem", peerAgentSigner: { issuer: "https://gw.example", keyFile: "signer.jwk" } } },
  });
  assert.equal(signed.tls?.peerAgentSigner?.alg, "ES256");
  assert.equal(signed.tls?.peerAgentSigner?.ttlSeconds, 300);
});

test("a peer signer key that does not import as its alg stops the start (CONFIG_INVALID), not a peer's first call", async () => {
  const dir = mkdtempSync(path.join(tmpdir(), "mcp-pdp-gw-signer-"));
  const keyFile = path.join(dir, "signer.jwk");
  // An Ed25519 private JWK, declared ES256: it parses as JSON and has "d", but does not import.
  const { privateKey } = generateKeyPairSync("ed25519");
  writeFileSync(keyFile, JSON.stringify(privateKey.export({ format: "jwk" })));
  const production = { upstream, mode: "production", resource: "https://gw.example/mcp", agent: { workloadToken: "t" }, userIssuers: [{ issuer: "https://idp.example", jwksUri: "https://idp.example/jwks" }] };
  const config = loadGatewayConfig({
    env: {},
    overrides: { ...production, tls: { certFile: "c.pem", keyFile: "k.pem", clientCaFile: "ca.pem", peerAgentSigner: { issuer: "https://gw.example", keyFile } } },
  });
  await assert.rejects(peerAgentTokens(config), (err: unknown) => err instanceof PdpError && err.code === "CONFIG_INVALID" && /does not import as a ES256 key/.test(err.message));
  // The same key declared EdDSA signs.
  const eddsa = loadGatewayConfig({
    env: {},
    overrides: { ...production, tls: { certFile: "c.pem", keyFile: "k.pem", clientCaFile: "ca.pem", peerAgentSigner: { issuer: "https://gw.example", keyFile, alg: "EdDSA" } } },
  });
  const sign = await peerAgentTokens(eddsa);
  assert.match(await sign!("spiffe://example.org/agent"), /^ey/);
});
