/**
 * The AuthZEN 1.0 door (step 2 of 3): `POST /access/v1/evaluation`, `POST /access/v1/evaluations`
 * and `GET /.well-known/authzen-configuration`, on the PDP's HTTP listener. Every evaluation is
 * one call of the same decision core the gRPC door calls — same checks, same token verification,
 * one decision record each. Callers authenticate as over gRPC (bearer JWT, or an mTLS client
 * certificate); a caller that does not is answered 401, as the specification says.
 */
import { serverSpan, type Tracing } from "../telemetry/tracing.js";
import type { IncomingMessage, ServerResponse } from "node:http";
import type { TLSSocket } from "node:tls";
import type { Logger } from "pino";
import type { DecisionCore } from "../decision/decision-core.js";
import { requestContext } from "../decision/request-context.js";
import type { RequestContext } from "../decision/types.js";
import { PdpError } from "../errors.js";
import { uriSans, type CallerResolver } from "../identity/caller-resolver.js";
import type { VerifiedCaller } from "../identity/types.js";
import { parseBatch, parseEvaluation, toQuestion, type AuthzenEvaluation, type EvaluationsSemantic } from "./authzen-request.js";
import { authorizeDecision, endSessionDecision, openSessionDecision, SUPPORTED_OBLIGATIONS, type AuthzenDecision } from "./authzen-response.js";
import { HttpError } from "./http-error.js";
import type { RouteHandler } from "./http-server.js";
import { readJsonObject } from "./json-body.js";
import { sendError, sendJson } from "./reply.js";

/** The AuthZEN paths (the specification's default paths). */
export const AUTHZEN_PATHS = {
  evaluation: "/access/v1/evaluation",
  evaluations: "/access/v1/evaluations",
  metadata: "/.well-known/authzen-configuration",
} as const;

/** What the AuthZEN route needs. */
export interface AuthzenRouteDeps {
  readonly core: Pick<DecisionCore, "authorize" | "openSession" | "endSession">;
  readonly resolveCaller: CallerResolver;
  readonly logger: Logger;
  readonly maxBodyBytes: number;
  readonly maxEvaluations: number;
  /** The PDP identifier published in the metadata (known once the listener is bound). */
  readonly baseUrl: () => string;
  /** When tracing is on: a SERVER span per request, parented by its `traceparent` header. */
  readonly tracing?: Tracing | undefined;
}

const REQUEST_ID = /^[\x21-\x7e]{1,256}$/;

/** The caller's credentials on an HTTP request: a verified client certificate's URI SANs, the Authorization header. */
function credentials(req: IncomingMessage) {
  const socket = req.socket as Partial<TLSSocket>;
  const cert = socket.encrypted && socket.authorized ? socket.getPeerCertificate?.() : undefined;
  const authorization = req.headers.authorization;
  return { certificateUris: uriSans(cert?.subjectaltname), authorization: authorization === undefined ? [] : [authorization] };
}

/** Builds the route; mount it on the HTTP listener. */
export function createAuthzenRoute(deps: AuthzenRouteDeps): RouteHandler {
  const { core } = deps;

  // `context.agent_attestation` (any value; "client" is the documented one) says the workload token
  // is the enforcement point's own stand-in: policy then sees agent_attestation == "client". It
  // can only lower the attestation the PDP derives from the verified token.
  const context = (caller: VerifiedCaller, receivedAt: bigint, e: AuthzenEvaluation): RequestContext =>
    requestContext(caller, deps.logger, { door: "authzen", caller: caller.id }, receivedAt, { agentStandIn: e.context.agent_attestation !== undefined });

  /** One evaluation through the core: one decision, one record. */
  async function evaluate(e: AuthzenEvaluation, caller: VerifiedCaller, receivedAt: bigint): Promise<AuthzenDecision> {
    const q = toQuestion(e, caller);
    const ctx = context(caller, receivedAt, e);
    switch (q.kind) {
      case "authorize":
        return authorizeDecision(await core.authorize(q.question, ctx));
      case "open_session":
        return openSessionDecision(await core.openSession(q.question, ctx));
      case "end_session":
        return endSessionDecision(await core.endSession(q.sessionId, ctx));
    }
  }

  /** Runs a batch in order; the short-circuit semantics stop at the first deny / permit. */
  async function evaluateAll(list: readonly AuthzenEvaluation[], semantic: EvaluationsSemantic, caller: VerifiedCaller, receivedAt: bigint): Promise<AuthzenDecision[]> {
    const results: AuthzenDecision[] = [];
    for (const e of list) {
      const d = await evaluate(e, caller, results.length === 0 ? receivedAt : process.hrtime.bigint());
      results.push(d);
      if (semantic === "deny_on_first_deny" && !d.decision) break;
      if (semantic === "permit_on_first_permit" && d.decision) break;
    }
    return results;
  }

  async function authenticate(req: IncomingMessage): Promise<VerifiedCaller> {
    try {
      return await deps.resolveCaller(credentials(req));
    } catch (err) {
      const e = PdpError.from(err, "CALLER_UNAUTHORIZED");
      if (e.code === "IDP_UNAVAILABLE") throw new HttpError(503, "the caller's token cannot be checked now (its identity provider is unavailable)", { "retry-after": "5", connection: "close" });
      deps.logger.debug({ code: e.code, reason: e.message }, "AuthZEN caller refused");
      throw new HttpError(401, `caller not authenticated: ${e.message}`, { "www-authenticate": 'Bearer realm="mcp-pdp"', connection: "close" });
    }
  }

  async function evaluations(req: IncomingMessage, res: ServerResponse, batch: boolean, headers: Record<string, string>): Promise<void> {
    const receivedAt = process.hrtime.bigint();
    const caller = await authenticate(req);
    const body = await readJsonObject(req, deps.maxBodyBytes);
    if (!batch) return sendJson(res, 200, await evaluate(parseEvaluation(body), caller, receivedAt), headers);
    const parsed = parseBatch(body, deps.maxEvaluations);
    const results = await evaluateAll(parsed.evaluations, parsed.semantic, caller, receivedAt);
    sendJson(res, 200, parsed.single ? results[0] : { evaluations: results }, headers);
  }

  function metadata(res: ServerResponse, headers: Record<string, string>): void {
    const base = deps.baseUrl();
    sendJson(
      res,
      200,
      {
        policy_decision_point: base,
        access_evaluation_endpoint: `${base}${AUTHZEN_PATHS.evaluation}`,
        access_evaluations_endpoint: `${base}${AUTHZEN_PATHS.evaluations}`,
        supported_obligations: SUPPORTED_OBLIGATIONS,
      },
      { ...headers, "cache-control": "max-age=300" },
    );
  }

  return (req, res) => {
    const path = (req.url ?? "").split("?")[0];
    const post = path === AUTHZEN_PATHS.evaluation || path === AUTHZEN_PATHS.evaluations;
    if (!post && path !== AUTHZEN_PATHS.metadata) return false;
    const headers: Record<string, string> = {};
    const requestId = req.headers["x-request-id"];
    const answer = async () => {
      if (requestId !== undefined) {
        if (typeof requestId !== "string" || !REQUEST_ID.test(requestId)) throw new HttpError(400, "X-Request-ID must be 1-256 printable ASCII characters");
        headers["x-request-id"] = requestId;
      }
      if (!post) {
        if (req.method !== "GET" && req.method !== "HEAD") throw new HttpError(405, "use GET", { allow: "GET, HEAD" });
        return metadata(res, headers);
      }
      if (req.method !== "POST") throw new HttpError(405, "use POST", { allow: "POST" });
      const batch = path === AUTHZEN_PATHS.evaluations;
      if (!deps.tracing) return evaluations(req, res, batch, headers);
      const attributes = { "http.request.method": "POST", "http.route": path, "mcppdp.door": "authzen" };
      const header = (key: string) => {
        const v = req.headers[key];
        return Array.isArray(v) ? v[0] : v;
      };
      await serverSpan(deps.tracing, `AuthZEN ${batch ? "evaluations" : "evaluation"}`, attributes, header, () => evaluations(req, res, batch, headers));
    };
    answer().catch((err: unknown) => {
      if (!(err instanceof HttpError)) deps.logger.error({ err, path }, "AuthZEN request failed");
      sendError(res, err, headers);
    });
    return true;
  };
}
