import type { PepDecision } from "./pep-decision.js";

/** `_meta` key under which results carry the PEP's decision (JSON, see {@link PepDecision}). */
export const META_DECISION = "io.mcp-pdp/decision";
/** `_meta` key under which results carry the task-session handle the call was decided in. */
export const META_TASK_SESSION = "io.mcp-pdp/task-session";
/** JSON-RPC error code for a refused `resources/read` or `prompts/get` (server-defined range). */
export const FORBIDDEN_ERROR_CODE = -32003;

/** One line (or a few) a human — or a model — can act on. Never contains a token. */
export function describeDecision(d: PepDecision): string {
  const lines = [`${d.decision} ${d.reasonCode}: ${d.message || "refused"}`];
  for (const r of d.reasons) lines.push(`because ${r.policyId}: ${r.reason}`);
  if (d.approval) {
    lines.push(
      `approval ${d.approval.approvalId} is pending${d.approval.expiresAt ? ` until ${d.approval.expiresAt}` : ""}; once it is approved, retry exactly the same call`,
    );
  }
  if (d.stepUp) lines.push(`the access token lacks the scope(s): ${d.stepUp.scopes.join(" ")}`);
  if (d.reauthorize) lines.push(`the bound ${d.reauthorize.changed} changed: open a new task session`);
  if (d.decisionId) lines.push(`decision ${d.decisionId} under policy version ${d.policyVersion}`);
  return lines.join("\n");
}

/** The `_meta` a guarded result carries. */
export function decisionMeta(d: PepDecision): Record<string, unknown> {
  return { [META_DECISION]: { ...d }, ...(d.taskSession && { [META_TASK_SESSION]: d.taskSession }) };
}

/** A refused `tools/call`: an MCP tool error (`isError: true`) with the reason code and reasons. */
export function toolErrorResult(d: PepDecision): { content: { type: "text"; text: string }[]; isError: true; _meta: Record<string, unknown> } {
  return { content: [{ type: "text", text: describeDecision(d) }], isError: true, _meta: decisionMeta(d) };
}

/** A refused `resources/read` or `prompts/get`: a JSON-RPC error whose `data` is the decision. */
export function forbiddenError(d: PepDecision): { code: number; message: string; data: Record<string, unknown> } {
  return { code: FORBIDDEN_ERROR_CODE, message: describeDecision(d), data: decisionMeta(d) };
}

function quoted(value: string): string {
  return `"${value.replace(/[\\"]/g, "\\$&").replace(/[\r\n]/g, " ")}"`;
}

/**
 * The `WWW-Authenticate` value for HTTP 403 when the user token lacks scopes (RFC 6750 §3.1, as the
 * MCP authorization specification uses it for step-up).
 */
export function stepUpChallenge(scopes: readonly string[], resourceMetadataUrl?: string): string {
  const parts = [`error="insufficient_scope"`, `scope=${quoted(scopes.join(" "))}`];
  if (resourceMetadataUrl) parts.push(`resource_metadata=${quoted(resourceMetadataUrl)}`);
  parts.push(`error_description=${quoted("the access token lacks a scope this call needs")}`);
  return `Bearer ${parts.join(", ")}`;
}

/** The `WWW-Authenticate` value for HTTP 401 when no bearer token was presented. */
export function authChallenge(resourceMetadataUrl?: string): string {
  return resourceMetadataUrl ? `Bearer resource_metadata=${quoted(resourceMetadataUrl)}` : "Bearer";
}
