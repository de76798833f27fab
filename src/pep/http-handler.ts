import type { IncomingMessage, ServerResponse } from "node:http";
import type { AuthInfo } from "@modelcontextprotocol/sdk/server/auth/types.js";
import { isJSONRPCRequest, type JSONRPCRequest } from "@modelcontextprotocol/sdk/types.js";
import { ReasonCode } from "../gen/mcppdp/v1/common_pb.js";
import { authChallenge, forbiddenError, stepUpChallenge } from "./denial-result.js";
import type { PdpClient } from "./pdp-client.js";
import { reasonCodeName, type PepDecision } from "./pep-decision.js";
import { PepError } from "./pep-error.js";
import { isGuardedMethod, type Guard } from "./pep-guard.js";
import type { PreDecision } from "./guard-transport.js";
import { PEP_HEADERS, type CallerIdentity } from "./request-identity.js";
import type { TaskSessions } from "./task-sessions.js";

/** An HTTP request as the SDK's `StreamableHTTPServerTransport.handleRequest` takes it. */
export type McpHttpRequest = IncomingMessage & { auth?: AuthInfo };

/**
 * Hands the request on to the MCP transport, e.g.
 * `(req, res, body) => transport.handleRequest(req, res, body)` after `pep.connect(server, transport)`.
 */
export type McpHttpNext = (req: McpHttpRequest, res: ServerResponse, parsedBody: unknown) => Promise<void>;

/** Dependencies of {@link createHttpHandler}. */
export interface HttpHandlerDeps {
  readonly guard: Guard;
  readonly pdp: PdpClient;
  readonly sessions: TaskSessions;
  readonly serverId: string;
  readonly identify: (headers: IncomingMessage["headers"]) => CallerIdentity;
  readonly preDecisions: WeakMap<object, PreDecision>;
  /** The protected resource metadata URL (RFC 9728) named in `WWW-Authenticate`. */
  readonly resourceMetadataUrl?: string;
  /** Largest accepted request body. Default 4 MiB. */
  readonly maxBodyBytes?: number;
}

function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { "content-type": "application/json", ...headers }).end(JSON.stringify(body));
}

function rpcError(id: JSONRPCRequest["id"] | null, code: number, message: string, data?: unknown): unknown {
  return { jsonrpc: "2.0", id, error: { code, message, ...(data !== undefined && { data }) } };
}

async function readBody(req: IncomingMessage, limit: number): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) return undefined;
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

/**
 * Answers a request refused for `INSUFFICIENT_SCOPE`: HTTP 403 with `WWW-Authenticate: Bearer
 * error="insufficient_scope", scope="…", resource_metadata="…"` (the MCP authorization spec's
 * step-up) and a JSON-RPC error carrying the decision.
 */
export function sendStepUp(res: ServerResponse, id: JSONRPCRequest["id"], decision: PepDecision, resourceMetadataUrl: string | undefined): void {
  const error = forbiddenError(decision);
  sendJson(res, 403, rpcError(id, error.code, error.message, error.data), {
    "www-authenticate": stepUpChallenge(decision.stepUp?.scopes ?? [], resourceMetadataUrl),
  });
}

/**
 * The HTTP side of the PEP for the Streamable HTTP transport:
 * - no `Authorization: Bearer` → 401 with `WWW-Authenticate: Bearer resource_metadata="…"`;
 * - a single guarded request (`tools/call`, `resources/read`, `prompts/get`) is decided here, once,
 *   before the transport sees it, so that `INSUFFICIENT_SCOPE` can become HTTP 403 with
 *   `WWW-Authenticate: Bearer error="insufficient_scope", scope="…", resource_metadata="…"`; any other
 *   decision is handed to the guarded transport, which answers it in MCP terms; the task-session
 *   handle is returned in the `X-Task-Session` response header;
 * - `DELETE` ends the caller's task session (the presented `X-Task-Session`, or the one the PEP
 *   keeps for this context) after the PDP has confirmed that the caller is its bound context: 204.
 */
export function createHttpHandler(deps: HttpHandlerDeps): (req: McpHttpRequest, res: ServerResponse, next: McpHttpNext) => Promise<void> {
  const limit = deps.maxBodyBytes ?? 4 * 1024 * 1024;

  const endTask = async (res: ServerResponse, identity: CallerIdentity): Promise<void> => {
    const handle = identity.taskSession ?? deps.sessions.kept(identity);
    if (!handle) return sendJson(res, 404, { error: "no task session for this context" });
    try {
      // The handle alone is not enough: the PDP must recognise the caller as the session's context.
      const check = await deps.pdp.filterTools({
        sessionId: handle,
        userToken: identity.userToken,
        workloadToken: identity.workloadToken,
        clientId: identity.clientId,
        serverId: deps.serverId,
        purpose: identity.purpose,
        ...(identity.agentStandIn && { agentStandIn: true }),
        tools: [],
      });
      if (check.reasonCode !== ReasonCode.ALLOWED) {
        return sendJson(res, 403, { error: "not this session's context", reasonCode: reasonCodeName(check.reasonCode), message: check.message });
      }
      await deps.pdp.endSession(handle);
      deps.sessions.forget(identity);
      res.writeHead(204).end();
    } catch (err) {
      sendJson(res, 503, { error: PepError.from(err, "EndSession").message, reasonCode: "PDP_UNAVAILABLE" });
    }
  };

  return async (req, res, next) => {
    const identity = deps.identify(req.headers);
    if (!identity.userToken) {
      return sendJson(res, 401, rpcError(null, -32001, "an access token is required (Authorization: Bearer …)"), {
        "www-authenticate": authChallenge(deps.resourceMetadataUrl),
      });
    }
    if (req.method === "DELETE") return endTask(res, identity);
    const authInfo: AuthInfo = { token: identity.userToken, clientId: identity.clientId, scopes: [] };
    req.auth = authInfo;
    if (req.method !== "POST") return next(req, res, undefined);

    // A body parsed by earlier middleware (e.g. express.json()) is used as is.
    let body: unknown = (req as { body?: unknown }).body;
    if (body === undefined) {
      const text = await readBody(req, limit);
      if (text === undefined) return sendJson(res, 413, rpcError(null, -32000, `request body larger than ${limit} bytes`));
      try {
        body = JSON.parse(text);
      } catch {
        return sendJson(res, 400, rpcError(null, -32700, "Parse error: Invalid JSON"));
      }
    }
    if (isJSONRPCRequest(body) && isGuardedMethod(body.method)) {
      const decision = await deps.guard.decide(identity, body.method, body.params);
      if (!decision.allowed && decision.reasonCode === "INSUFFICIENT_SCOPE") return sendStepUp(res, body.id, decision, deps.resourceMetadataUrl);
      deps.preDecisions.set(authInfo, { id: body.id, method: body.method, decision });
      if (decision.taskSession) res.setHeader(PEP_HEADERS.taskSession, decision.taskSession);
    }
    return next(req, res, body);
  };
}
