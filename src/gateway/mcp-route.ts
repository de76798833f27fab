import { randomUUID } from "node:crypto";
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import express, { type Express, type Request, type Response } from "express";
import { decodeJwt } from "jose";
import type { Server } from "@modelcontextprotocol/sdk/server/index.js";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
import {
  ErrorCode,
  McpError,
  isInitializeRequest,
  isJSONRPCNotification,
  isJSONRPCRequest,
  type ClientCapabilities,
  type JSONRPCRequest,
  type RequestId,
} from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";
import type { Logger } from "pino";
import { PdpError } from "../errors.js";
import type { TokenVerifier, VerifiedUser } from "../identity/types.js";
import { authChallenge, toolErrorResult } from "../pep/denial-result.js";
import { createToolReporter } from "../pep/tool-reporter.js";
import { guardTransport, type PreDecision } from "../pep/guard-transport.js";
import { createHttpHandler, sendStepUp } from "../pep/http-handler.js";
import type { PdpClient } from "../pep/pdp-client.js";
import { createGuard } from "../pep/pep-guard.js";
import type { PepDecision } from "../pep/pep-decision.js";
import { PEP_HEADERS, bearerToken, identityFromHeaders, type CallerIdentity } from "../pep/request-identity.js";
import { createTaskSessions } from "../pep/task-sessions.js";
import type { GatewayConfig, GatewayRoute } from "./config.js";
import { invalidTokenChallenge, protectedResourceMetadata, resourceMetadataUrl } from "./protected-resource.js";
import { UPSTREAM_UNAVAILABLE, createRelayServer } from "./relay-server.js";
import { showDeniedTools } from "./show-denied.js";
import { createUpstream, type Upstream } from "./upstream.js";
import { createClientSessions, type ClientSessionState, type ClientSessions } from "./client-sessions.js";
import { openSessionUpstream, processSlots, type SessionUpstream } from "./session-upstream.js";
import { relayToolCallDirect, type DirectTarget } from "./direct-call.js";
import { mediaRefusal, plainJsonBody } from "./request-checks.js";
import { peerSpiffeId } from "./peer-agent.js";

/** Any JSON-RPC result a client returns to a relayed server→client request. */
const anyResult = z.looseObject({});

/** Most server→client requests (sampling, elicitation, roots) that wait for one client at once. */
export const MAX_PENDING_CLIENT_REQUESTS = 8;

/** What every route shares. */
export interface RouteDeps {
  readonly config: GatewayConfig;
  readonly logger: Logger;
  readonly pdp: PdpClient;
  readonly verifier: TokenVerifier;
  /** The gateway's own agent workload token (for callers that present none). */
  readonly agentToken: () => Promise<string>;
  /** The JWT-SVID for a verified mTLS peer's SPIFFE ID (peer-agent.ts); absent without client certificates. */
  readonly peerAgentToken?: ((spiffeId: string) => Promise<string>) | undefined;
}

/** One mounted MCP endpoint. */
export interface MountedRoute {
  readonly path: string;
  /** Its canonical URI (RFC 8707 resource; the server id policies see). */
  readonly resource: string;
  /** Its protected-resource metadata URL (RFC 9728). */
  readonly resourceMetadataUrl: string;
  readonly upstream: Upstream;
  /** Its client sessions (MCP `Mcp-Session-Id`). */
  readonly clientSessions: ClientSessions<GatewaySession>;
  /**
   * The hot path for a POST to this endpoint whose Host and Origin passed: false when it does not
   * take the request (call `general` then); once taken, it answers, or hands the request — with
   * its body read and parsed as `req.body` — to `general` before any decision is made.
   */
  readonly fastPost: (req: IncomingMessage, res: ServerResponse, general: (req: IncomingMessage, res: ServerResponse) => void) => boolean;
  /** Closes its client sessions and its upstream connection. */
  close(): Promise<void>;
}

/** What the gateway keeps for one client session (opened by `initialize`). */
interface GatewaySession extends ClientSessionState {
  readonly transport: StreamableHTTPServerTransport;
  readonly upstream: SessionUpstream;
  /** Calls relayed directly (direct-call.ts) and under way: the client's id → the gateway's id upstream. */
  readonly directCalls: Map<RequestId, string>;
  /** The caller of the session's latest request (for messages that carry no credentials). */
  identity: CallerIdentity;
}

/** The `act.sub` of a (verified) token, if it names an actor. */
function actorOf(token: string): string | undefined {
  const act = decodeJwt(token).act as { sub?: unknown } | undefined;
  return typeof act?.sub === "string" && act.sub !== "" ? act.sub : undefined;
}

/** A JSON-RPC request (hand-checked: the hot path does not run the SDK's zod schemas). */
interface ToolCallRequest {
  readonly jsonrpc: "2.0";
  readonly id: RequestId;
  readonly method: "tools/call";
  readonly params?: Record<string, unknown>;
}

/** Whether a parsed body is one JSON-RPC `tools/call` request (what the SDK's `isJSONRPCRequest` accepts, for that method). */
function isToolCall(body: unknown): body is ToolCallRequest {
  const m = body as Record<string, unknown>;
  if (m === null || typeof m !== "object" || Array.isArray(m) || m.jsonrpc !== "2.0" || m.method !== "tools/call") return false;
  const id = m.id;
  if (!(typeof id === "string" || (typeof id === "number" && Number.isInteger(id)))) return false;
  return m.params === undefined || (m.params !== null && typeof m.params === "object" && !Array.isArray(m.params));
}

/** Reads a body of exactly `length` bytes (the HTTP parser stops at `Content-Length`). */
function readBody(req: IncomingMessage, length: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size <= length) chunks.push(chunk);
    });
    req.on("end", () => resolve(chunks.length === 1 ? chunks[0]!.toString("utf8") : Buffer.concat(chunks).toString("utf8")));
    req.on("error", reject);
  });
}

function sendJson(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
}

/** A JSON-RPC error body with no id (the request was refused before it was read). */
export function rpcError(code: number, message: string, data?: unknown): Record<string, unknown> {
  return { jsonrpc: "2.0", id: null, error: { code, message, ...(data !== undefined && { data }) } };
}

/**
 * Mounts one MCP endpoint at `route.path` in front of its upstream: the protected-resource
 * metadata at the path-suffixed well-known URL, then per request — bearer token present (401
 * `resource_metadata`), token verified for this resource (401 `invalid_token`), the PEP library's
 * decisions (403 `insufficient_scope`), and the relay over this route's own upstream connection.
 */
export function mountRoute(app: Express, route: GatewayRoute, resource: string, deps: RouteDeps): MountedRoute {
  const { config, logger, pdp, verifier } = deps;
  const metadataUrl = resourceMetadataUrl(resource);
  const upstream = createUpstream(route.upstream, logger.child({ route: route.path }), { name: "mcp-pdp-gateway", version: "1" });

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
      logger.isLevelEnabled("debug") &&
      logger.debug({ route: route.path, method, item, decision: decision.decision, reasonCode: decision.reasonCode, decisionId: decision.decisionId }, "gateway decision"),
  });
  // The upstream's tool definitions go to the PDP whenever its list changes: sessions then pin
  // what the client is shown, and a changed definition is TOOL_DEFINITION_CHANGED.
  const reporter = createToolReporter({ pdp, serverId: resource });
  const onReportError = (err: unknown) =>
    logger.warn({ route: route.path, err: err instanceof Error ? err.message : String(err) }, "reporting the upstream's tool definitions to the PDP failed");
  const identities = new WeakMap<IncomingHttpHeaders, CallerIdentity>();
  /**
   * Who asks: the user's token, the client it was issued to, the agent, the purpose (header, else
   * the route's default). The agent: the bearer's own RFC 8693 `act` (the token is then also
   * presented as the workload token: the PDP verifies it as one, from a workload issuer that
   * vouches for act.sub's trust domain), else an X-Workload-Token header, else the SPIFFE ID of a
   * verified mTLS client certificate (presented as a JWT-SVID the gateway signs, peer-agent.ts),
   * else the gateway's own agent token. Policy sees which (context.agent_attestation): "act",
   * "spiffe" (the header's or the peer's JWT-SVID), or "client" for the gateway's own agent token —
   * nothing but the OAuth client attested the agent.
   */
  const callerOf = async (req: IncomingMessage, token: string, user: VerifiedUser): Promise<CallerIdentity> => {
    const declared = identityFromHeaders(req.headers, { purpose: route.defaultPurpose, clientId: user.clientId });
    const actor = actorOf(token) !== undefined;
    if (actor) return { ...declared, workloadToken: token };
    if (declared.workloadToken) return declared;
    const peer = deps.peerAgentToken && peerSpiffeId(req.socket);
    if (peer) return { ...declared, workloadToken: await deps.peerAgentToken!(peer) };
    return { ...declared, workloadToken: await deps.agentToken(), agentStandIn: true };
  };
  /** A client session is only ever its owner's: the same user of the same client. */
  const ownerOf = (user: VerifiedUser): string => JSON.stringify([user.issuer, user.subject, user.clientId]);
  /** The caller of each request a client session's transport handles, by the request's AuthInfo. */
  const authIdentities = new WeakMap<object, CallerIdentity>();
  const clientSessions = createClientSessions<GatewaySession>({ max: config.clientSessions.max, idleMs: config.clientSessions.idleTimeoutSeconds * 1000 });
  const clientInfo = { name: "mcp-pdp-gateway", version: "1" };
  const stdioSlots = processSlots(config.clientSessions.stdioProcesses);

  /**
   * A client session: a stateful downstream transport (it mints the `Mcp-Session-Id`), its own
   * relay server, and its upstream side (its own connection for an HTTP upstream, and for a stdio
   * one when the client declared sampling or elicitation; else the shared child) whose
   * notifications and server→client requests are relayed to this client.
   * Undefined when `clientSessions.max` are open.
   */
  const openClientSession = async (owner: string, identity: CallerIdentity, capabilities: ClientCapabilities): Promise<GatewaySession | undefined> => {
    // Refused before any upstream connection is opened for it.
    if (clientSessions.size() >= config.clientSessions.max && (await clientSessions.sweep()) === 0) return undefined;
    const id = randomUUID();
    let server: Server | undefined;
    // A server→client request (sampling, elicitation, roots) goes on the stream of the one request
    // being forwarded, when there is exactly one (it is then that call's); else on the GET stream.
    // At most MAX_PENDING_CLIENT_REQUESTS wait for the client at once, each for the SDK's request
    // timeout (60 s); past either, the upstream gets an MCP error.
    const inFlight = new Set<RequestId>();
    const related = () => (inFlight.size === 1 ? { relatedRequestId: [...inFlight][0]! } : {});
    let pending = 0;
    const request = async (r: { method: string }, signal: AbortSignal): Promise<Record<string, unknown>> => {
      if (!server) throw new McpError(ErrorCode.InvalidRequest, `${r.method}: the client session is not open yet`);
      if (pending >= MAX_PENDING_CLIENT_REQUESTS) throw new McpError(ErrorCode.InvalidRequest, `${r.method}: ${MAX_PENDING_CLIENT_REQUESTS} requests already wait for this client`);
      pending++;
      try {
        return (await server.request(r as never, anyResult, { signal, ...related() })) as Record<string, unknown>;
      } finally {
        pending--;
      }
    };
    const up = await openSessionUpstream(
      route.upstream,
      upstream,
      capabilities,
      {
        notify: (n) => void server?.notification(n as never).catch(() => {}),
        request,
        lost: () => void clientSessions.remove(id),
      },
      logger.child({ route: route.path }),
      clientInfo,
      stdioSlots,
    );
    const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: () => id });
    let toolList: Record<string, unknown> | undefined;
    const session: GatewaySession = {
      transport,
      upstream: up,
      directCalls: new Map(),
      identity,
      async close() {
        await transport.close().catch(() => {});
        await server?.close().catch(() => {});
        await up.close();
      },
    };
    if (!clientSessions.add(id, owner, session)) {
      await up.close();
      return undefined;
    }
    const identify = (extra: { authInfo?: object | undefined } | undefined): CallerIdentity =>
      (extra?.authInfo && authIdentities.get(extra.authInfo)) || session.identity;
    server = createRelayServer({
      client: () => up.client(),
      info: up.info,
      identify,
      sessions,
      subscriptions: up,
      inFlight,
      onToolList: (r) => (toolList = r),
      onSessionLost: () => (up.own ? up.renew() : upstream.reconnect("the upstream answered 404: it no longer knows the gateway's session")),
    });
    if (config.listDenied === "show") showDeniedTools(transport, () => toolList, sessions, session.identity);
    transport.onclose = () => void clientSessions.remove(id);
    await server.connect(guardTransport(transport, { guard, identify, preDecisions, reporter, onReportError }));
    return session;
  };
  /** Tells the upstream that a call relayed directly is cancelled (over the session's SDK connection). */
  const cancelUpstream = (session: GatewaySession, requestId: string, reason: string): void =>
    void session.upstream
      .client()
      .then((c) => c.notification({ method: "notifications/cancelled", params: { requestId, reason } }))
      .catch(() => {});
  const relayDirect = (session: GatewaySession, sessionId: string, target: DirectTarget, body: JSONRPCRequest, decision: PepDecision, res: ServerResponse): Promise<void> =>
    relayToolCallDirect(target, body, decision, res, sessionId, () => session.upstream.renew(), session.directCalls, (id, reason) => cancelUpstream(session, id, reason));
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

  const metadata = protectedResourceMetadata({
    resource,
    authorizationServers: config.authorizationServers,
    scopesSupported: config.scopesSupported,
    resourceName: `mcp-pdp gateway (${route.path})`,
  });
  app.get(new URL(metadataUrl).pathname, (_req, res) => {
    res.set("cache-control", "max-age=300").json(metadata);
  });

  app.use(route.path, express.json({ limit: config.maxBodyBytes }));
  app.all(route.path, async (req: Request, res: Response) => {
    try {
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
        res
          .set("www-authenticate", invalidTokenChallenge(e.message, metadataUrl))
          .status(401)
          .json(rpcError(-32001, `the access token was refused: ${e.message}`, { reasonCode: e.code }));
        return;
      }
      const owner = ownerOf(user);
      const sessionId = req.headers["mcp-session-id"];
      const clientSession = typeof sessionId === "string" ? clientSessions.get(sessionId, owner) : undefined;
      if (typeof sessionId === "string" && !clientSession) {
        res.status(404).json(rpcError(-32001, "Session not found: initialize again"));
        return;
      }
      if (req.method === "DELETE" && clientSession) {
        await clientSessions.remove(sessionId as string);
        res.status(200).end();
        return;
      }
      if (req.method === "GET" && !clientSession) {
        // Without a client session there is no standalone SSE stream (answers go on each POST's own stream).
        res.set("allow", "POST, DELETE").status(405).json(rpcError(-32000, "Method not allowed: a GET stream needs a client session (Mcp-Session-Id from initialize)"));
        return;
      }
      // The SDK transport's media-type checks, before any decision (a call relayed directly meets no SDK transport).
      const media = req.method === "POST" ? mediaRefusal(req.headers) : undefined;
      if (media) {
        res.status(media.status).json(rpcError(-32000, media.message));
        return;
      }
      const identity = await callerOf(req, token, user);
      identities.set(req.headers, identity);
      // Task sessions are opened with the upstream's lists as their grant: wait for them.
      if (req.method === "POST") await upstream.ready();

      if (clientSession) {
        clientSession.identity = identity;
        await pepHttp(req, res, async (request, response, body) => {
          if (request.auth) authIdentities.set(request.auth, identity);
          if (request.method === "GET") {
            clientSessions.streamOpened(sessionId as string);
            response.on("close", () => clientSessions.streamClosed(sessionId as string));
          }
          // An allowed tools/call goes straight to the session's own upstream session, when it has one.
          const pre = request.auth ? preDecisions.get(request.auth) : undefined;
          if (pre?.decision.allowed && pre.method === "tools/call" && isJSONRPCRequest(body) && body.id === pre.id) {
            const target = await clientSession.upstream.directTarget();
            if (target) return relayDirect(clientSession, sessionId as string, target, body, pre.decision, response);
          }
          // The client cancels a call relayed directly: tell the upstream, under the gateway's id.
          if (isJSONRPCNotification(body) && body.method === "notifications/cancelled") {
            const params = body.params as { requestId?: RequestId; reason?: string } | undefined;
            const upstreamId = clientSession.directCalls.get(params?.requestId ?? "");
            if (upstreamId !== undefined) cancelUpstream(clientSession, upstreamId, params?.reason ?? "cancelled by the client");
          }
          await clientSession.transport.handleRequest(request, response, body);
        });
        return;
      }
      if (req.method === "POST" && isInitializeRequest(req.body)) {
        await pepHttp(req, res, async (request, response, body) => {
          if (request.auth) authIdentities.set(request.auth, identity);
          const opened = await openClientSession(owner, identity, (body as { params?: { capabilities?: ClientCapabilities } }).params?.capabilities ?? {});
          if (!opened) {
            response.writeHead(503, { "content-type": "application/json" }).end(JSON.stringify(rpcError(-32000, `too many client sessions (${config.clientSessions.max}); try again later`)));
            return;
          }
          await opened.transport.handleRequest(request, response, body);
        });
        return;
      }

      await pepHttp(req, res, async (request, response, body) => {
        const { client, info } = await upstream.ready();
        let toolList: Record<string, unknown> | undefined;
        const server = createRelayServer({
          client: async () => client,
          info,
          identify: () => identity,
          sessions,
          onToolList: (r) => (toolList = r),
          onSessionLost: () => upstream.reconnect("the upstream answered 404: it no longer knows the gateway's session"),
        });
        const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
        if (config.listDenied === "show") showDeniedTools(transport, () => toolList, sessions, identity);
        response.on("close", () => {
          void transport.close();
          void server.close();
        });
        await server.connect(guardTransport(transport, { guard, identify: () => identity, preDecisions, reporter, onReportError }));
        await transport.handleRequest(request, response, body);
      });
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      logger.warn({ route: route.path, err: message, method: req.method }, "gateway request failed");
      if (!res.headersSent) res.status(503).json(rpcError(UPSTREAM_UNAVAILABLE, message));
      else res.end();
    }
  });

  /**
   * The hot path: a POST of one `tools/call` in a client session whose upstream session is reached
   * directly (direct-call.ts). Taken only with a bearer token, a session id and a plain JSON body of
   * bounded length (else express answers — 401, 413, 415, … — as for any request). Then, in order,
   * as on the general path: the body is parsed (400 on bad JSON, as express's parser answers); the
   * token is verified, the client session is its owner's and relays directly — when any of that
   * fails, or the body is anything but one tools/call, the request goes to the general path with
   * its parsed body, before any decision, and is answered there (401, 404, the SDK relay). Then the
   * PDP decides, and the call is refused (403 step-up, or the MCP tool error with the decision) or
   * relayed. No express, no zod, no SDK transport per call.
   */
  const fastPost: MountedRoute["fastPost"] = (req, res, general) => {
    const sessionId = req.headers["mcp-session-id"];
    const token = bearerToken(req.headers);
    const length = plainJsonBody(req.headers, config.maxBodyBytes);
    if (typeof sessionId !== "string" || !token || length === undefined || mediaRefusal(req.headers)) return false;
    const toGeneral = (body: unknown): void => {
      (req as IncomingMessage & { body?: unknown }).body = body;
      general(req, res);
    };
    const serve = async (): Promise<void> => {
      let body: unknown;
      try {
        body = JSON.parse(await readBody(req, length));
      } catch {
        return sendJson(res, 400, rpcError(-32700, "Parse error: Invalid JSON"));
      }
      // express's JSON parser (strict) takes only an object or an array.
      if (body === null || typeof body !== "object") return sendJson(res, 400, rpcError(-32700, "Parse error: Invalid JSON"));
      if (!isToolCall(body)) return toGeneral(body);
      let user: VerifiedUser;
      try {
        user = await verifier.verifyUser(token, resource);
      } catch {
        return toGeneral(body);
      }
      const session = clientSessions.get(sessionId, ownerOf(user));
      const target = session && (await session.upstream.directTarget());
      if (!session || !target) return toGeneral(body);
      const identity = await callerOf(req, token, user);
      session.identity = identity;
      await upstream.ready();
      const decision = await guard.decide(identity, "tools/call", body.params);
      if (decision.taskSession) res.setHeader(PEP_HEADERS.taskSession, decision.taskSession);
      if (decision.allowed) return relayDirect(session, sessionId, target, body, decision, res);
      if (decision.reasonCode === "INSUFFICIENT_SCOPE") return sendStepUp(res, body.id, decision, metadataUrl);
      res.writeHead(200, { "content-type": "application/json", "mcp-session-id": sessionId }).end(JSON.stringify({ jsonrpc: "2.0", id: body.id, result: toolErrorResult(decision) }));
    };
    serve().catch((err: unknown) => {
      const message = err instanceof Error ? err.message : String(err);
      logger.warn({ route: route.path, err: message, method: req.method }, "gateway request failed");
      if (!res.headersSent) sendJson(res, 503, rpcError(UPSTREAM_UNAVAILABLE, message));
      else res.end();
    });
    return true;
  };

  return {
    path: route.path,
    resource,
    resourceMetadataUrl: metadataUrl,
    upstream,
    clientSessions,
    fastPost,
    async close() {
      await clientSessions.close();
      await upstream.close();
    },
  };
}
