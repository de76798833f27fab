import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { createServer as createHttpsServer } from "node:https";
import { createServer, type IncomingMessage, type Server as HttpServer, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import cors from "cors";
import express, { type NextFunction, type Request, type Response } from "express";
import { hostHeaderValidation } from "@modelcontextprotocol/sdk/server/middleware/hostHeaderValidation.js";
import type { Logger } from "pino";
import { identityConfigSchema } from "../identity/config.js";
import { devIdentityConfig } from "../identity/dev-issuer.js";
import { createTokenVerifier } from "../identity/token-verifier.js";
import type { TokenVerifier } from "../identity/types.js";
import { createPdpClient, type PdpClient } from "../pep/pdp-client.js";
import { agentTokenSource } from "./agent-token.js";
import { peerAgentTokens } from "./peer-agent.js";
import { routesOf, type GatewayConfig } from "./config.js";
import { mountRoute, rpcError, type MountedRoute } from "./mcp-route.js";
import { PROTECTED_RESOURCE_PATH, protectedResourceMetadata } from "./protected-resource.js";
import { EXPOSED_HEADERS, corsHeaders, hostAllowed, originAllowed, pathOf } from "./request-checks.js";
import type { Upstream } from "./upstream.js";

/** A running gateway. */
export interface Gateway {
  /** The port it listens on. */
  readonly port: number;
  /** The (first) MCP endpoint, e.g. `http://127.0.0.1:8080/mcp`. */
  readonly url: string;
  /** Its canonical URI (RFC 8707 resource; the server id policies see). */
  readonly resource: string;
  /** Its protected-resource metadata URL (RFC 9728). */
  readonly resourceMetadataUrl: string;
  /** Its upstream. */
  readonly upstream: Upstream;
  /** Every endpoint (one per upstream), with its URL. */
  readonly routes: readonly (MountedRoute & { readonly url: string })[];
  /** Stops listening, closes the upstreams and the PDP channels. */
  close(): Promise<void>;
}

/** Dependencies the caller may supply (tests). */
export interface GatewayDeps {
  readonly logger: Logger;
  /** A PDP client to use instead of dialling `config.pdp.address` (then not closed by `close()`). */
  readonly pdpClient?: PdpClient;
}

function userVerifier(config: GatewayConfig): TokenVerifier {
  const identity =
    config.mode === "development" && config.userIssuers.length === 0
      ? devIdentityConfig()
      : { ...identityConfigSchema.parse({}), userIssuers: config.userIssuers };
  return createTokenVerifier(identity, { operators: [] });
}

function callerToken(config: GatewayConfig): string | (() => Promise<string>) | undefined {
  if (config.pdp.callerToken) return config.pdp.callerToken;
  const file = config.pdp.callerTokenFile;
  return file ? async () => (await readFile(file, "utf8")).trim() : undefined;
}

/**
 * Starts the gateway: Streamable HTTP MCP endpoints, each in front of one upstream MCP server (a
 * stdio child or an HTTP URL), and an OAuth 2.0 resource server per the MCP authorization
 * specification. Per request, in order:
 * 1. `Host` must name an allowed host and `Origin` (when sent) an allowed origin (DNS rebinding): 403;
 * 2. a bearer token must be present (401 `WWW-Authenticate: Bearer resource_metadata="…"`) and
 *    verify — signature, issuer, lifetime, audience = the endpoint's resource (401 `invalid_token`);
 * 3. the PEP library decides `tools/call`, `resources/read`, `prompts/get` through the PDP (403
 *    `insufficient_scope` for step-up) with the user's token and the gateway's own agent token;
 * 4. what is allowed is relayed upstream over the gateway's own connection: method and params
 *    only, never the client's headers or token.
 */
export async function startGateway(config: GatewayConfig, deps: GatewayDeps): Promise<Gateway> {
  const { logger } = deps;
  // Before anything is opened: a signer key that does not import stops the start here.
  const peerAgentToken = await peerAgentTokens(config);
  const token = callerToken(config);
  const pdp =
    deps.pdpClient ??
    createPdpClient({
      address: config.pdp.address!,
      timeoutMs: config.pdp.timeoutMs,
      openSessionTimeoutMs: config.pdp.openSessionTimeoutMs,
      ...(token && { callerToken: token }),
    });
  const verifier = userVerifier(config);
  const shared = { config, logger, pdp, verifier, agentToken: agentTokenSource(config), peerAgentToken };

  const app = express();
  app.disable("x-powered-by");
  // 1. DNS rebinding: the SDK's Host check (host names, any port), then Origin when one is sent.
  app.use(hostHeaderValidation(config.allowedHosts));
  app.use((req: Request, res: Response, next: NextFunction) => {
    const origin = req.headers.origin;
    if (origin === undefined || originAllowed(origin, config)) return next();
    res.status(403).json(rpcError(-32000, `Invalid Origin header: ${origin}`));
  });
  // Browser clients from an allowed origin (checked above) may read the answers, including the
  // 401 challenge; preflights are answered here, before authentication.
  app.use(
    cors({
      origin: true,
      methods: ["GET", "POST", "DELETE"],
      allowedHeaders: ["authorization", "content-type", "accept", "mcp-protocol-version", "mcp-session-id", "last-event-id", "x-task-purpose", "x-task-id", "x-task-session", "x-workload-token", "x-mcp-client-id"],
      exposedHeaders: [...EXPOSED_HEADERS],
      maxAge: 600,
    }),
  );

  // The default resource URIs need the real port when port is 0: listen first, mount after.
  // The hot path: an allowed `tools/call` of a client session, relayed straight to its upstream
  // session, is served on plain node:http (mcp-route.ts, `fastPost`) once the Host and Origin
  // checks pass; every other request, and any request the hot path does not take, goes to express.
  const fast = new Map<string, MountedRoute["fastPost"]>();
  const onRequest = (req: IncomingMessage, res: ServerResponse): void => {
    const post = req.method === "POST" ? fast.get(pathOf(req.url)) : undefined;
    if (post && hostAllowed(req.headers.host, config.allowedHosts) && (req.headers.origin === undefined || originAllowed(req.headers.origin, config))) {
      corsHeaders(res, req.headers.origin);
      if (post(req, res, app)) return;
    }
    app(req, res);
  };
  const tls = config.tls;
  const http: HttpServer = tls
    ? createHttpsServer(
        {
          cert: readFileSync(tls.certFile),
          key: readFileSync(tls.keyFile),
          ...(tls.clientCaFile && { ca: readFileSync(tls.clientCaFile), requestCert: true, rejectUnauthorized: tls.requireClientCert }),
        },
        onRequest,
      )
    : createServer(onRequest);
  await new Promise<void>((resolve, reject) => {
    http.once("error", reject);
    http.listen(config.port, config.host, () => {
      http.off("error", reject);
      resolve();
    });
  });
  const port = (http.address() as AddressInfo).port;
  const publicHost = config.host === "0.0.0.0" || config.host === "::" ? "localhost" : config.host.includes(":") ? `[${config.host}]` : config.host;
  const origin = `${tls ? "https" : "http"}://${publicHost}:${port}`;
  const routes = routesOf(config).map((route) => ({
    ...mountRoute(app, route, route.resource ?? `${origin}${route.path}`, shared),
    url: `${origin}${route.path}`,
  }));
  for (const r of routes) fast.set(r.path, r.fastPost);
  // RFC 9728's root form describes a resource at the root; with one endpoint, serve its metadata
  // there too, for clients that look only there.
  if (routes.length === 1) {
    const only = routes[0]!;
    const metadata = protectedResourceMetadata({
      resource: only.resource,
      authorizationServers: config.authorizationServers,
      scopesSupported: config.scopesSupported,
      resourceName: `mcp-pdp gateway (${only.path})`,
    });
    app.get(PROTECTED_RESOURCE_PATH, (_req, res) => {
      res.set("cache-control", "max-age=300").json(metadata);
    });
  }

  app.use((_req: Request, res: Response) => {
    res.status(404).json(rpcError(-32601, "not found"));
  });
  app.use((err: { type?: string; status?: number; message?: string }, _req: Request, res: Response, _next: NextFunction) => {
    if (err.type === "entity.parse.failed") return void res.status(400).json(rpcError(-32700, "Parse error: Invalid JSON"));
    if (err.type === "entity.too.large") return void res.status(413).json(rpcError(-32000, `request body larger than ${config.maxBodyBytes} bytes`));
    logger.warn({ err: err.message }, "gateway request refused");
    res.status(err.status && err.status >= 400 && err.status < 500 ? err.status : 500).json(rpcError(-32603, "request refused"));
  });

  for (const [i, r] of routes.entries()) {
    const up = routesOf(config)[i]!.upstream;
    logger.info({ url: r.url, resource: r.resource, upstream: up.command ?? up.url }, "gateway endpoint");
  }
  logger.info({ pdp: config.pdp.address, mode: config.mode, tls: Boolean(tls), clientCertificates: tls?.clientCaFile ? (tls.requireClientCert ? "required" : "optional") : "no" }, "gateway listening");
  if (config.mode === "development") logger.warn("gateway in DEVELOPMENT mode: it trusts the development issuer and mints its own agent token");
  if (config.mode === "development" && config.developmentAnyHost)
    logger.warn({ host: config.host }, "gateway in DEVELOPMENT mode on a non-loopback host (developmentAnyHost): anyone who reaches this port can mint tokens — publish it on loopback only");

  const first = routes[0]!;
  return {
    port,
    url: first.url,
    resource: first.resource,
    resourceMetadataUrl: first.resourceMetadataUrl,
    upstream: first.upstream,
    routes,
    async close() {
      await new Promise<void>((resolve) => {
        http.close(() => resolve());
        http.closeAllConnections();
      });
      for (const r of routes) await r.close();
      await verifier.close();
      if (!deps.pdpClient) pdp.close();
    },
  };
}
