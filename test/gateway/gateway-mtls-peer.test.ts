/**
 * The mTLS peer as the agent: the gateway listens with TLS and asks for client certificates
 * (`tls.clientCaFile`). Real certificates made here with `openssl`: a client certificate that
 * verifies and names a SPIFFE ID (URI SAN) names the agent — presented to the PDP as a JWT-SVID, so
 * policy sees `agent_attestation == "spiffe"` and allows a high-impact tool that a client-only
 * caller is refused; a certificate without a SPIFFE SAN, one from another CA, or none at all gives
 * no peer identity (the gateway's stand-in agent, attestation "client"); with
 * `requireClientCert` a client without a verified certificate is refused at the TLS handshake.
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { request } from "node:https";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import path from "node:path";
import { Readable } from "node:stream";
import { after, before, describe, test } from "node:test";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { loadGatewayConfig } from "../../src/gateway/config.js";
import { startGateway, type Gateway } from "../../src/gateway/gateway.js";
import { DEV_ISSUER, mintDevToken } from "../../src/identity/dev-issuer.js";
import { META_DECISION, type PepDecision } from "../../src/pep/index.js";
import { startJwksServer, type JwksServer } from "../support/jwks-server.js";
import { startTestPdp, type TestPdp } from "../support/pdp.js";
import { captureLogger, filesCedar } from "./support/gateway-stack.js";

const RESOURCE = "https://files.example/mcp";
const PEER_AGENT = "spiffe://dev.mcp-pdp.local/agent/research-assistant";
const STAND_IN = "spiffe://dev.mcp-pdp.local/agent/research-notifier";
const FILESYSTEM = path.join(path.dirname(createRequire(import.meta.url).resolve("@modelcontextprotocol/server-filesystem/package.json")), "dist", "index.js");

const decisionOf = (r: { _meta?: Record<string, unknown> }) => r._meta?.[META_DECISION] as PepDecision | undefined;
const textOf = (r: CallToolResult) => (r.content[0] as { text: string }).text;

/** A CA, the gateway's server certificate, and client certificates, made with openssl in `dir`. */
function makeCertificates(dir: string): Record<string, string> {
  const f = (name: string) => path.join(dir, name);
  const ssl = (...args: string[]) => execFileSync("openssl", args, { cwd: dir, stdio: "pipe" });
  const key = (name: string) => ssl("genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", f(`${name}.key`));
  const ca = (name: string) => {
    key(name);
    ssl("req", "-x509", "-new", "-key", f(`${name}.key`), "-out", f(`${name}.pem`), "-days", "2", "-subj", `/CN=${name}`);
  };
  const leaf = (name: string, issuer: string, san: string | undefined, usage: string) => {
    key(name);
    ssl("req", "-new", "-key", f(`${name}.key`), "-out", f(`${name}.csr`), "-subj", `/CN=${name}`);
    writeFileSync(f(`${name}.ext`), `basicConstraints=CA:FALSE\nextendedKeyUsage=${usage}\n${san ? `subjectAltName=${san}\n` : ""}`);
    ssl("x509", "-req", "-in", f(`${name}.csr`), "-CA", f(`${issuer}.pem`), "-CAkey", f(`${issuer}.key`), "-CAcreateserial", "-out", f(`${name}.pem`), "-days", "2", "-extfile", f(`${name}.ext`));
  };
  ca("ca");
  ca("other-ca");
  leaf("server", "ca", "DNS:localhost,IP:127.0.0.1", "serverAuth");
  leaf("agent", "ca", `URI:${PEER_AGENT}`, "clientAuth");
  leaf("plain", "ca", "DNS:client.example", "clientAuth");
  leaf("stranger", "other-ca", `URI:${PEER_AGENT}`, "clientAuth");
  return { ca: f("ca.pem"), server: f("server.pem"), serverKey: f("server.key") };
}

/** A `fetch` over node:https that presents `cert` (the SDK transport takes any fetch). */
function tlsFetch(ca: Buffer, cert?: { cert: Buffer; key: Buffer }): typeof fetch {
  return (async (input: string | URL | Request, init?: RequestInit) => {
    const url = new URL(input instanceof Request ? input.url : input);
    const headers: Record<string, string> = {};
    new Headers(init?.headers).forEach((v, k) => (headers[k] = v));
    const body = init?.body === undefined || init.body === null ? undefined : String(init.body);
    return new Promise<Response>((resolve, reject) => {
      const req = request(url, { method: init?.method ?? "GET", headers, ca, ...cert }, (res) => {
        const h = new Headers();
        for (const [k, v] of Object.entries(res.headers)) if (typeof v === "string") h.set(k, v);
        const status = res.statusCode ?? 0;
        const nobody = status === 202 || status === 204;
        if (nobody) res.resume();
        resolve(new Response(nobody ? null : (Readable.toWeb(res) as ReadableStream), { status, headers: h }));
      });
      init?.signal?.addEventListener("abort", () => req.destroy(new Error("aborted")));
      req.on("error", reject);
      req.end(body);
    });
  }) as typeof fetch;
}

describe("gateway: the mTLS peer's SPIFFE ID as the agent (real certificates)", { timeout: 120_000 }, () => {
  let dir: string;
  let files: string;
  let certs: Record<string, string>;
  let pdp: TestPdp | undefined;
  const gateways: Gateway[] = [];
  const clients: Client[] = [];
  const { logger } = captureLogger();
  const pem = (name: string) => readFileSync(path.join(dir, name));
  const start = (requireClientCert: boolean) =>
    startGateway(
      loadGatewayConfig({
        env: {},
        overrides: {
          port: 0,
          resource: RESOURCE,
          pdp: { address: pdp!.address, timeoutMs: 2000, openSessionTimeoutMs: 4000 },
          agent: { devAgent: STAND_IN },
          tls: { certFile: certs.server, keyFile: certs.serverKey, clientCaFile: certs.ca, requireClientCert },
          upstream: { command: process.execPath, args: [FILESYSTEM, files], restartInitialDelayMs: 50, restartMaxDelayMs: 1000 },
        },
      }),
      { logger },
    );

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "mcp-pdp-mtls-"));
    files = mkdtempSync(path.join(tmpdir(), "mcp-pdp-mtls-files-"));
    writeFileSync(path.join(files, "notes.txt"), "cedar decides\n");
    certs = makeCertificates(dir);
    pdp = await startTestPdp({ cedarDir: filesCedar(RESOURCE, DEV_ISSUER) });
    gateways.push(await start(false));
  });
  after(async () => {
    for (const c of clients) await c.close().catch(() => {});
    for (const g of gateways) await g.close();
    await pdp?.close();
    rmSync(dir, { recursive: true, force: true });
    rmSync(files, { recursive: true, force: true });
  });

  const connect = async (gateway: Gateway, cert?: string): Promise<Client> => {
    const token = await mintDevToken("user", { audience: RESOURCE });
    const client = new Client({ name: "stock-client", version: "1.0.0" });
    const identity = cert ? { cert: pem(`${cert}.pem`), key: pem(`${cert}.key`) } : undefined;
    await client.connect(
      new StreamableHTTPClientTransport(new URL(gateway.url), { requestInit: { headers: { authorization: `Bearer ${token}` } }, fetch: tlsFetch(pem("ca.pem"), identity) }),
    );
    clients.push(client);
    return client;
  };
  /** write_file (high-impact: policy wants an attested agent) and the agent the PDP recorded for it. */
  const write = async (client: Client, name: string) => {
    const result = (await client.callTool({ name: "write_file", arguments: { path: path.join(files, name), content: "written\n" } })) as CallToolResult;
    const decision = decisionOf(result);
    const record = (await pdp!.records()).find((r) => r.decisionId === decision?.decisionId);
    return { result, decision, agentId: record?.agentId };
  };

  test("a verified certificate with a SPIFFE SAN names the agent (attested: the high-impact tool is allowed)", async () => {
    assert.match(gateways[0]!.url, /^https:/);
    const { result, decision, agentId } = await write(await connect(gateways[0]!, "agent"), "by-peer.txt");
    assert.equal(decision?.decision, "ALLOW", textOf(result));
    assert.equal(agentId, PEER_AGENT, "the agent is the certificate's SPIFFE ID, not the gateway's stand-in");
    assert.equal(readFileSync(path.join(files, "by-peer.txt"), "utf8"), "written\n");
  });

  for (const [what, cert] of [
    ["no certificate", undefined],
    ["a certificate without a SPIFFE SAN", "plain"],
    ["a certificate from another CA (it does not verify)", "stranger"],
  ] as const) {
    test(`${what}: no peer identity — the gateway's stand-in agent, refused the high-impact tool`, async () => {
      const { result, decision, agentId } = await write(await connect(gateways[0]!, cert), `by-${cert ?? "none"}.txt`);
      assert.equal(decision?.decision, "DENY", textOf(result));
      assert.ok(decision?.reasons.some((r) => r.policyId === "high-impact-requires-attested-agent"), JSON.stringify(decision));
      assert.equal(agentId, STAND_IN);
    });
  }

  test("requireClientCert: a client without a verified certificate is refused at the TLS handshake", async () => {
    const strict = await start(true);
    gateways.push(strict);
    await assert.rejects(connect(strict));
    await assert.rejects(connect(strict, "stranger"));
    const { decision, agentId } = await write(await connect(strict, "agent"), "by-peer-strict.txt");
    assert.equal(decision?.decision, "ALLOW");
    assert.equal(agentId, PEER_AGENT);
  });
});

/**
 * Production mode: no development issuer anywhere. A real IdP (a JWKS endpoint on loopback) issues
 * the user tokens, the gateway's caller token and its stand-in agent token; the gateway signs the
 * peer's JWT-SVID with `tls.peerAgentSigner`, whose public key a second JWKS endpoint serves. The
 * PDP (production mode) that lists the signer among its workload issuers for the peer's trust
 * domain sees a "spiffe" agent; one that does not trust the signer refuses the call.
 */
describe("gateway in production mode: the mTLS peer's JWT-SVID signed by tls.peerAgentSigner, verified by the PDP", { timeout: 120_000 }, () => {
  let dir: string;
  let files: string;
  let certs: Record<string, string>;
  let idp: JwksServer;
  let signer: JwksServer;
  const pdps: TestPdp[] = [];
  const gateways: Gateway[] = [];
  const clients: Client[] = [];
  const { logger } = captureLogger();
  const pem = (name: string) => readFileSync(path.join(dir, name));
  const now = () => Math.floor(Date.now() / 1000);

  /** A production PDP trusting the IdP for users, callers and the stand-in agent's trust domain, and `signerIssuers` for workloads too. */
  const startPdp = (signerIssuers: { issuer: string; jwksUri: string; trustDomains: string[] }[]) =>
    startTestPdp({
      mode: "production",
      allowPlaintext: true,
      cedarDir: filesCedar(RESOURCE, idp.issuer),
      identity: {
        userIssuers: [{ issuer: idp.issuer, jwksUri: idp.jwksUri }],
        workloadIssuers: [{ issuer: idp.issuer, jwksUri: idp.jwksUri, trustDomains: ["dev.mcp-pdp.local"] }, ...signerIssuers],
        callerIssuers: [{ issuer: idp.issuer, jwksUri: idp.jwksUri }],
        pdpAudience: "mcp-pdp",
      },
    });
  /** A production gateway in front of `pdp`: user tokens from the IdP, its own caller and stand-in agent tokens, the peer signer's key. */
  const startProductionGateway = async (pdp: TestPdp): Promise<Gateway> => {
    const t = { iat: now(), exp: now() + 900 };
    const gateway = await startGateway(
      loadGatewayConfig({
        env: {},
        overrides: {
          mode: "production",
          port: 0,
          resource: RESOURCE,
          userIssuers: [{ issuer: idp.issuer, jwksUri: idp.jwksUri }],
          pdp: { address: pdp.address, timeoutMs: 2000, openSessionTimeoutMs: 4000, callerToken: await idp.sign({ ...t, sub: RESOURCE, aud: "mcp-pdp" }) },
          agent: { workloadToken: await idp.sign({ ...t, sub: STAND_IN, aud: "mcp-pdp" }) },
          tls: {
            certFile: certs.server,
            keyFile: certs.serverKey,
            clientCaFile: certs.ca,
            peerAgentSigner: { issuer: signer.issuer, keyFile: path.join(dir, "signer.jwk") },
          },
          upstream: { command: process.execPath, args: [FILESYSTEM, files], restartInitialDelayMs: 50, restartMaxDelayMs: 1000 },
        },
      }),
      { logger },
    );
    gateways.push(gateway);
    return gateway;
  };

  before(async () => {
    dir = mkdtempSync(path.join(tmpdir(), "mcp-pdp-mtls-prod-"));
    files = mkdtempSync(path.join(tmpdir(), "mcp-pdp-mtls-prod-files-"));
    certs = makeCertificates(dir);
    idp = await startJwksServer();
    signer = await startJwksServer({ issuer: "https://gateway-signer.example" });
    writeFileSync(path.join(dir, "signer.jwk"), JSON.stringify(await signer.privateJwk()));
  });
  after(async () => {
    for (const c of clients) await c.close().catch(() => {});
    for (const g of gateways) await g.close();
    for (const p of pdps) await p.close();
    await signer?.close();
    await idp?.close();
    rmSync(dir, { recursive: true, force: true });
    rmSync(files, { recursive: true, force: true });
  });

  /** write_file (high-impact) by a client presenting `cert`, with a user token from the IdP; and the PDP's record of it. */
  const write = async (gateway: Gateway, pdp: TestPdp, cert: string | undefined, name: string) => {
    const token = await idp.sign({ iat: now(), exp: now() + 600, sub: "bob", aud: RESOURCE, client_id: "web-client" });
    const client = new Client({ name: "stock-client", version: "1.0.0" });
    const identity = cert ? { cert: pem(`${cert}.pem`), key: pem(`${cert}.key`) } : undefined;
    await client.connect(
      new StreamableHTTPClientTransport(new URL(gateway.url), { requestInit: { headers: { authorization: `Bearer ${token}` } }, fetch: tlsFetch(pem("ca.pem"), identity) }),
    );
    clients.push(client);
    const result = (await client.callTool({ name: "write_file", arguments: { path: path.join(files, name), content: "written\n" } })) as CallToolResult;
    const decision = decisionOf(result);
    const record = (await pdp.records()).find((r) => r.decisionId === decision?.decisionId);
    return { result, decision, record };
  };

  test("a PDP that trusts the signer for the peer's trust domain: the agent is the certificate's SPIFFE ID, attestation spiffe, the high-impact tool allowed", async () => {
    const pdp = await startPdp([{ issuer: signer.issuer, jwksUri: signer.jwksUri, trustDomains: ["dev.mcp-pdp.local"] }]);
    pdps.push(pdp);
    const gateway = await startProductionGateway(pdp);
    const { result, decision, record } = await write(gateway, pdp, "agent", "by-peer.txt");
    assert.equal(decision?.decision, "ALLOW", textOf(result));
    assert.equal(record?.agentId, PEER_AGENT);
    assert.equal(record?.replay?.input.agentAttestation, "spiffe");
    assert.equal(readFileSync(path.join(files, "by-peer.txt"), "utf8"), "written\n");
    assert.ok(signer.fetches > 0, "the PDP fetched the signer's JWKS");
    // Without a certificate the same PDP sees the gateway's own agent (agent.workloadToken, a
    // research agent too), attested by nothing but the OAuth client: the high-impact tool is refused.
    const plain = await write(gateway, pdp, undefined, "by-none.txt");
    assert.equal(plain.decision?.decision, "DENY", textOf(plain.result));
    assert.ok(plain.decision?.reasons.some((r) => r.policyId === "high-impact-requires-attested-agent"), JSON.stringify(plain.decision));
    assert.equal(plain.record?.agentId, STAND_IN);
  });

  for (const [what, trusted, why] of [
    ["does not list the signer", [], /untrusted token issuer/],
    ["trusts the signer only for another trust domain", [{ trustDomains: ["other.example.org"] }], /untrusted trust domain/],
  ] as const) {
    test(`a PDP that ${what}: the peer's call is refused (fail closed), nothing written`, async () => {
      const pdp = await startPdp(trusted.map((t) => ({ issuer: signer.issuer, jwksUri: signer.jwksUri, ...t, trustDomains: [...t.trustDomains] })));
      pdps.push(pdp);
      const gateway = await startProductionGateway(pdp);
      const name = `refused-${pdps.length}.txt`;
      const { result, decision } = await write(gateway, pdp, "agent", name);
      assert.equal(decision?.decision, "DENY", textOf(result));
      assert.match(textOf(result), /^DENY TOKEN_INVALID/);
      assert.match(textOf(result), why);
      assert.throws(() => readFileSync(path.join(files, name)), /ENOENT/);
    });
  }
});
