import type { JsonObject } from "@bufbuild/protobuf";
import { PdpError } from "../errors.js";
import { Action } from "../gen/mcppdp/v1/common_pb.js";
import type { AuthorizeRequest } from "../gen/mcppdp/v1/authorization_pb.js";
import type { PolicyAction } from "../policy/types.js";

/** An Authorize request whose fields have been checked (not yet verified: tokens are still opaque). */
export interface AuthorizeInput {
  readonly sessionId: string;
  readonly userToken: string;
  readonly workloadToken: string;
  readonly clientId: string;
  readonly serverId: string;
  readonly action: PolicyAction;
  readonly tool?: string;
  readonly resourceUri?: string;
  readonly arguments: JsonObject;
  readonly argumentsJson: string;
  readonly purpose: string;
}

/** Limits on request fields. */
export interface RequestLimits {
  /** Largest `arguments` object, as JSON, in bytes. */
  readonly maxArgumentsBytes: number;
}

const MAX_TOKEN = 16 * 1024;
const MAX_ID = 512;
const MAX_URI = 2048;
const NAME = /^[A-Za-z0-9_.:\/-]{1,128}$/;

const ACTIONS: Partial<Record<Action, PolicyAction>> = {
  [Action.CALL_TOOL]: "call_tool",
  [Action.READ_RESOURCE]: "read_resource",
  [Action.GET_PROMPT]: "get_prompt",
};

function invalid(message: string): never {
  throw new PdpError("INVALID_REQUEST", message);
}

/** A required printable string no longer than `max`. */
export function requireField(value: string, name: string, max: number): string {
  if (value.length === 0) invalid(`${name} is required`);
  if (value.length > max) invalid(`${name} is longer than ${max} characters`);
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(value)) invalid(`${name} contains control characters`);
  return value;
}

/** Checks the fields every request that carries identities needs. */
export function checkIdentityFields(req: {
  userToken: string;
  workloadToken: string;
  clientId: string;
  serverId: string;
  purpose: string;
}): void {
  requireField(req.userToken, "user_token", MAX_TOKEN);
  requireField(req.workloadToken, "workload_token", MAX_TOKEN);
  requireField(req.clientId, "client_id", MAX_ID);
  requireField(req.serverId, "server_id", MAX_URI);
  requireField(req.purpose, "purpose", MAX_ID);
}

/** Checks a tool name (MCP tool names: letters, digits, `_ . : / -`, at most 128). */
export function checkToolName(tool: string): string {
  if (!NAME.test(tool)) invalid("tool must be 1-128 characters of letters, digits and _ . : / -");
  return tool;
}

/** Validates and translates an Authorize request. Throws PdpError INVALID_REQUEST. */
export function parseAuthorizeRequest(req: AuthorizeRequest, limits: RequestLimits): AuthorizeInput {
  checkIdentityFields(req);
  const action = ACTIONS[req.action];
  if (!action) invalid(`action must be CALL_TOOL, READ_RESOURCE or GET_PROMPT (got ${req.action})`);
  if (req.sessionId.length > MAX_ID) invalid(`session_id is longer than ${MAX_ID} characters`);
  const needsTool = action === "call_tool" || action === "get_prompt";
  const tool = needsTool ? checkToolName(req.tool) : undefined;
  if (!needsTool && req.tool) invalid("tool is only for CALL_TOOL and GET_PROMPT");
  const resourceUri = req.resourceUri ? requireField(req.resourceUri, "resource_uri", MAX_URI) : undefined;
  if (action === "read_resource" && !resourceUri) invalid("resource_uri is required for READ_RESOURCE");
  const args: JsonObject = req.arguments ?? {};
  const argumentsJson = JSON.stringify(args);
  if (Buffer.byteLength(argumentsJson) > limits.maxArgumentsBytes)
    invalid(`arguments are larger than ${limits.maxArgumentsBytes} bytes`);
  return {
    sessionId: req.sessionId,
    userToken: req.userToken,
    workloadToken: req.workloadToken,
    clientId: req.clientId,
    serverId: req.serverId,
    action,
    ...(tool !== undefined && { tool }),
    ...(resourceUri !== undefined && { resourceUri }),
    arguments: args,
    argumentsJson,
    purpose: req.purpose,
  };
}
