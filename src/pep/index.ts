/**
 * mcp-pdp/pep — the enforcement-point library for MCP servers built with
 * `@modelcontextprotocol/sdk`. See docs/pep.md.
 */
export { createPep, type Pep, type PepOptions } from "./create-pep.js";
export { createPdpClient, type PdpClient, type PdpClientOptions, type PdpIdentity, type PdpAuthorizeRequest, type PdpOpenSessionRequest, type McpToolDefinition } from "./pdp-client.js";
export { traceContextOfParams, validTraceContext, type TraceContext } from "./trace-context.js";
export { createToolReporter, type ToolReporter } from "./tool-reporter.js";
export { guardTransport, type GuardTransportDeps, type PreDecision } from "./guard-transport.js";
export { createHttpHandler, type McpHttpNext, type McpHttpRequest, type HttpHandlerDeps } from "./http-handler.js";
export { createGuard, GUARDED_METHODS, isGuardedMethod, type Guard, type GuardDeps, type GuardedMethod, type VisibleTools } from "./pep-guard.js";
export { createTaskSessions, type TaskSessions, type TaskSessionsOptions, type TaskGrants, type SessionLease, type SessionVerdict } from "./task-sessions.js";
export { decisionFromResponse, refusal, type PepDecision, type PepReason, type PepReasonCode } from "./pep-decision.js";
export { PepError, type PepErrorCode } from "./pep-error.js";
export {
  PEP_HEADERS,
  SECRET_HEADERS,
  bearerToken,
  identityFromHeaders,
  withoutSecrets,
  type CallerIdentity,
  type HeaderBag,
} from "./request-identity.js";
export {
  META_DECISION,
  META_TASK_SESSION,
  FORBIDDEN_ERROR_CODE,
  authChallenge,
  decisionMeta,
  describeDecision,
  forbiddenError,
  stepUpChallenge,
  toolErrorResult,
} from "./denial-result.js";
