import { readFile } from "node:fs/promises";
import type { IncomingHttpHeaders, Server as HttpServer } from "node:http";
import type { AddressInfo } from "node:net";
import express, { type NextFunction, type Request, type Response } from "express";
import { hostHeaderValidation } from "@modelcontextprotocol/sdk/server/middleware/hostHeaderValidation.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import type { Logger } from "pino";
import { PdpError } from "../errors.js";
import { identityConfigSchema } from "../identity/config.js";
import { devIdentityConfig } from "../identity/dev-issuer.js";
import { createTokenVerifier } from "../identity/token-verifier.js";
import type { TokenVerifier, VerifiedUser } from "../identity/types.js";
import { authChallenge } from "../pep/denial-result.js";
import { guardTransport, type PreDecision } from "../pep/guard-transport.js";
import { createHttpHandler } from "../pep/http-handler.js";
import { createPdpClient, type PdpClient } from "../pep/pdp-client.js";
import { createGuard } from "../pep/pep-guard.js";
import { bearerToken, identityFromHeaders, type CallerIdentity } from "../pep/request-identity.js";
import { createTaskSessions } from "../pep/task-sessions.js";
import { agentTokenSource } from "./agent-token.js";
import type { GatewayConfig } from "./config.js";
import { PROTECTED_RESOURCE_PATH, invalidTokenChallenge, protectedResourceMetadata, resourceMetadataUrl } from "./protected-resource.js";
import { UPSTREAM_UNAVAILABLE, createRelayServer } from "./relay-server.js";
import { showDeniedTools } from "./show-denied.js";
import { createUpstream, type Upstream } from "./upstream.js";

/** A running gateway. */
export interface Gateway {
  /** The port it listens on. */
  readonly port: number;
  /** The MCP endpoint, e.g. `http://127.0.0.1:8080/mcp`. */
  readonly url: string;
  /** Its canonical URI (RFC 8707 resource; the server id policies see). */
  readonly resource: string;
  /** Its protected-resource metadata URL (RFC 9728). */
  readonly resourceMetadataUrl: string;
  readonly upstream: Upstream;
  /** Stops listening, closes the upstream and the PDP channels. */
  close(): Promise<void>;
}

/** Dependencies the caller may supply (tests). */
export interface GatewayDeps {
  readonly logger: Logger;
  /** A PDP client to use instead of dialling `config.pdp.address` (then not closed by `close()`). */
  readonly pdpClient?: PdpClient;
}

function rpcError(code: number, message: string, data?: unknown): Record<string, unknown> {
  return { jsonrpc: "2.0", id: null, error: { code, message, ...(data !== undefined && { data }) } };
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
 * Starts the gateway: a Streamable HTTP MCP endpoint in front of one upstream MCP server, and an
 * OAuth 2.0 resource server per the MCP authorization specification. Per request, in order:
 * 1. `Host` must name an allowed host and `Origin` (when sent) an allowed origin (DNS rebinding): 403;
 * 2. a bearer token must be present (401 `WWW-Authenticate: Bearer resource_metadata="…"`) and
 *    verify — signature, issuer, lifetime, audience = this gateway's resource (401 `invalid_token`);
 * 3. the PEP library decides `tools/call`, `resources/read`, `prompts/get` through the PDP (403
 *    `insufficient_scope` for step-up) with the user's token and the gateway's own agent token;
 * 4. what is allowed is relayed upstream over the gateway's own connection: method and params
 *    only, never the client's headers or token.
 */
export async function startGateway(config: GatewayConfig, deps: GatewayDeps): Promise<Gateway> {
  const { logger } = deps;
  const version = "gateway";
  const upstream = createUpstream(config.upstream, logger, { name: "mcp-pdp-gateway", version });
  const pdp = deps.pdpClient ?? createPdpClient({
    address: config.pdp.address!,
    timeoutMs: config.pdp.timeoutMs,
    openSessionTimeoutMs: config.pdp.openSessionTimeoutMs,
    ...(callerToken(config) && { callerToken: callerToken(config)! }),
  });
  const verifier = userVerifier(config);
  const agentToken = agentTokenSource(config);

  // The resource URI needs the real port when port is 0: listen first, then fix the rest.
  const app = express();
  app.disable("x-powered-by");
  const http: HttpServer = await new Promise((resolve, reject) => {
    const s = app.listen(config.port, config.host, (err?: Error) => (err ? reject(err) : resolve(s)));
  });
  const port = (http.address() as AddressInfo).port;
  const publicHost = config.host === "0.0.0.0" || config.host === "::" ? "localhost" : config.host.includes(":") ? `[${config.host}]` : config.host;
  const resource = config.resource ?? `http://${publicHost}:${port}${config.path}`;
  const metadataUrl = resourceMetadataUrl(resource);

  const sessions = createTaskSessions({
    pdp,
    serverId: resource,
    grants: upstream.grants,
    ...(config.sessionTtlSeconds !== undefined && { ttlSeconds: config.sessionTtlSeconds }),
  });
  const guard = createGuard({
    pdp,
    sessions,
    serverId: resource,
    onDecision: ({ method, item, decision }) =>
      logger.info({ method, item, decision: decision.decision, reasonCode: decision.reasonCode, decisionId: decision.decisionId }, "gateway decision"),
  });
  const identities = new WeakMap<IncomingHttpHeaders, CallerIdentity>();
  const preDecisions = new WeakMap<object, PreDecision>();
  const pepHttp = createHttpHandler({
    guard,
    pdp,
    sessions,
    serverId: resource,
    identify: (headers) => identities.get(headers)!,
    preDecisions,
    resourceMetadataUrl: metadataUrl,
    maxBodyBytes: config.maxBodyBytes,
  });

  // 1. DNS rebinding: the SDK's Host check (host names, any port), then Origin when one is sent.
  app.use(hostHeaderValidation(config.allowedHosts));
  app.use((req: Request, res: Response, next: NextFunction) => {
    const origin = req.headers.origin;
    if (origin === undefined) return next();
    let host = "";
    try {
      host = new URL(origin).hostname;
    } catch {
      // an unparseable origin is refused below
    }
    const ok = config.allowedOrigins.length > 0 ? config.allowedOrigins.includes(origin) : host !== "" && config.allowedHosts.includes(host);
    if (ok) return next();
    res.status(403).json(rpcError(-32000, `Invalid Origin header: ${origin}`));
  });

  const metadata = protectedResourceMetadata({
    resource,
    authorizationServers: config.authorizationServers,
    scopesSupported: config.scopesSupported,
    resourceName: "mcp-pdp gateway",
  });
  const metadataPaths = [...new Set([PROTECTED_RESOURCE_PATH, new URL(metadataUrl).pathname])];
  app.get(metadataPaths, (_req, res) => {
    res.set("cache-control", "max-age=300").json(metadata);
  });

  app.use(config.path, express.json({ limit: config.maxBodyBytes }));
  app.all(config.path, async (req: Request, res: Response) => {
    try {
      // 2. The bearer token: present, then verified (audience = this gateway).
      const token = bearerToken(req.headers);
      if (!token) {
        res.set("www-authenticate", authChallenge(metadataUrl)).status(401).json(rpcError(-32001, "an access token is required (Authorization: Bearer …)"));
        return;
      }
      let user: VerifiedUser;
      try {
        user = await verifier.verifyUser(token, resource);
      } catch (err) {
        const e = PdpError.from(err);
        res.set("www-authenticate", invalidTokenChallenge(e.message, metadataUrl)).status(401).json(rpcError(-32001, `the access token was refused: ${e.message}`, { reasonCode: e.code }));
        return;
      }
      if (req.method === "GET") {
        // Stateless: no standalone SSE stream (answers go on each POST's own stream).
        res.set("allow", "POST, DELETE").status(405).json(rpcError(-32000, "Method not allowed: this gateway is stateless; send requests with POST"));
        return;
      }
      // 3. Who asks: the user's token, the client it was issued to, the agent (the gateway's own
      //    unless the caller presents a workload token), the purpose (header or default).
      const declared = identityFromHeaders(req.headers, { purpose: config.defaultPurpose, clientId: user.clientId });
      const identity: CallerIdentity = { ...declared, workloadToken: declared.workloadToken || (await agentToken()) };
      identities.set(req.headers, identity);
      if (req.method === "POST") await upstream.ready();

      await pepHttp(req, res, async (request, response, body) => {
        const { client, info } = await upstream.ready();
        let toolList: Record<string, unknown> | undefined;
        const server = createRelayServer({ client, info, identity, sessions, onToolList: (r) => (toolList = r) });
        const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
        if (config.listDenied === "show") showDeniedTools(transport, () => toolList, sessions, identity);
        response.on("close", () => {
          void transport.close();
          void server.close();
        });
        await server.connect(guardTransport(transport, { guard, identify: () => identity, preDecisions }));
        await transport.handleRequest(request, response, body);
      });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      logger.warn({ err: message, method: req.method }, "gateway request failed");
      if (!res.headersSent) res.status(503).json(rpcError(UPSTREAM_UNAVAILABLE, message));
      else res.end();
    }
  });

  app.use((_req: Request, res: Response) => {
    res.status(404).json(rpcError(-32601, "not found"));
  });
  app.use((err: { type?: string; status?: number; message?: string }, _req: Request, res: Response, _next: NextFunction) => {
    if (err.type === "entity.parse.failed") return void res.status(400).json(rpcError(-32700, "Parse error: Invalid JSON"));
    if (err.type === "entity.too.large") return void res.status(413).json(rpcError(-32000, `request body larger than ${config.maxBodyBytes} bytes`));
    logger.warn({ err: err.message }, "gateway request refused");
    res.status(err.status && err.status >= 400 && err.status < 500 ? err.status : 500).json(rpcError(-32603, "request refused"));
  });

  const url = `http://${publicHost}:${port}${config.path}`;
  logger.info({ url, resource, upstream: config.upstream.command ?? config.upstream.url, pdp: config.pdp.address, mode: config.mode }, "gateway listening");
  if (config.mode === "development") logger.warn("gateway in DEVELOPMENT mode: it trusts the development issuer and mints its own agent token");
  if (config.mode === "development" && config.developmentAnyHost)
    logger.warn({ host: config.host }, "gateway in DEVELOPMENT mode on a non-loopback host (developmentAnyHost): anyone who reaches this port can mint tokens — publish it on loopback only");

  return {
    port,
    url,
    resource,
    resourceMetadataUrl: metadataUrl,
    upstream,
    async close() {
      await new Promise<void>((resolve) => {
        http.close(() => resolve());
        http.closeAllConnections();
      });
      await upstream.close();
      await verifier.close();
      if (!deps.pdpClient) pdp.close();
    },
  };
}


