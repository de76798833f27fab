/**
 * Step 1 of every delegated decision: the declared fields are checked before anything else
 * looks at them. Every check is a length test first, so an oversized field costs nothing more
 * than the comparison (no regex, no copy, no parse).
 */
import { createHash } from "node:crypto";
import canonicalize from "canonicalize";
import { PdpError } from "../errors.js";
import type { JsonValue } from "../policy/types.js";
import type { Arguments, AssertedClaims, AuthorizeQuestion, DelegatedQuestion, Item, JsonObject } from "./types.js";

/** Limits on request fields. */
export interface RequestLimits {
  /** Largest `arguments` object, as JSON, in bytes. */
  readonly maxArgumentsBytes: number;
}

/** Deepest nesting of `arguments` (objects and arrays). */
export const MAX_ARGUMENT_DEPTH = 16;
const MAX_TOKEN = 16 * 1024;
const MAX_ID = 512;
const MAX_URI = 2048;
const NAME = /^[A-Za-z0-9_.:/-]{1,128}$/;
// eslint-disable-next-line no-control-regex
const CONTROL = /[\u0000-\u001f\u007f]/;

function invalid(message: string): never {
  throw new PdpError("INVALID_REQUEST", message);
}

/** A required printable string no longer than `max`. */
export function requireField(value: string, name: string, max: number): string {
  if (value.length === 0) invalid(`${name} is required`);
  if (value.length > max) invalid(`${name} is longer than ${max} characters`);
  if (CONTROL.test(value)) invalid(`${name} contains control characters`);
  return value;
}

/** An optional printable string no longer than `max` (`""` is absent). */
export function optionalField(value: string, name: string, max: number): string | undefined {
  return value.length === 0 ? undefined : requireField(value, name, max);
}

/** Checks the fields every delegated question carries. */
export function checkDelegation(q: DelegatedQuestion): void {
  if (q.malformed !== undefined) invalid(q.malformed);
  if (q.asserted) checkAsserted(q.asserted);
  else {
    requireField(q.userToken, "user_token", MAX_TOKEN);
    requireField(q.workloadToken, "workload_token", MAX_TOKEN);
  }
  requireField(q.clientId, "client_id", MAX_ID);
  requireField(q.serverId, "server_id", MAX_URI);
  requireField(q.purpose, "purpose", MAX_ID);
}

/** Asserted claims: printable, bounded, at most 100 scopes. */
function checkAsserted(a: AssertedClaims): void {
  requireField(a.user.issuer, "asserted user issuer", MAX_URI);
  requireField(a.user.subject, "asserted user subject", MAX_ID);
  requireField(a.agentId, "asserted workload id", MAX_URI);
  if (a.user.scopes.length > 100) invalid("at most 100 asserted scopes");
  for (const s of a.user.scopes) requireField(s, "asserted scope", 256);
}

/** A session handle's length (its shape is checked against the store's format later). */
export function checkSessionField(sessionId: string): string | undefined {
  if (sessionId.length > MAX_ID) invalid(`session_id is longer than ${MAX_ID} characters`);
  return sessionId.length === 0 ? undefined : sessionId;
}

/** A tool or prompt name (MCP names: letters, digits, `_ . : / -`, at most 128). */
export function checkName(name: string, field = "tool"): string {
  if (name.length > 128 || !NAME.test(name)) invalid(`${field} must be 1-128 characters of letters, digits and _ . : / -`);
  return name;
}

/** A resource URI (printable, at most 2048). */
export function checkUri(uri: string, field = "resource_uri"): string {
  return requireField(uri, field, MAX_URI);
}

/**
 * Bounds `arguments` by walking it with a budget, before any serialisation: the walk stops as
 * soon as the (approximate) JSON size passes `maxBytes` or the nesting passes
 * {@link MAX_ARGUMENT_DEPTH}.
 */
function checkArgumentSize(value: JsonValue, maxBytes: number): void {
  let budget = maxBytes;
  const walk = (v: JsonValue, depth: number): void => {
    if (depth > MAX_ARGUMENT_DEPTH) invalid(`arguments nest deeper than ${MAX_ARGUMENT_DEPTH} levels`);
    if (typeof v === "string") budget -= v.length + 2;
    else if (v === null || typeof v !== "object") budget -= 8;
    else if (Array.isArray(v)) {
      budget -= 2;
      for (const item of v) {
        walk(item, depth + 1);
        budget -= 1;
      }
    } else {
      budget -= 2;
      for (const key in v) {
        budget -= key.length + 4;
        if (budget < 0) break;
        walk(v[key] as JsonValue, depth + 1);
      }
    }
    if (budget < 0) invalid(`arguments are larger than ${maxBytes} bytes`);
  };
  walk(value, 0);
}

/** Checked arguments with the SHA-256 of their RFC 8785 canonical JSON (key order and whitespace never matter). */
export function checkArguments(value: JsonObject | undefined, limits: RequestLimits): Arguments {
  const args = value ?? {};
  checkArgumentSize(args, limits.maxArgumentsBytes);
  let json: string | undefined;
  try {
    json = canonicalize(args);
  } catch (err) {
    throw new PdpError("INVALID_REQUEST", `arguments are not valid JSON: ${(err as Error).message}`, { cause: err });
  }
  if (json === undefined || Buffer.byteLength(json) > limits.maxArgumentsBytes) invalid(`arguments are larger than ${limits.maxArgumentsBytes} bytes`);
  return { value: args, digest: createHash("sha256").update(json).digest("hex") };
}

/** What an Authorize question asks for, checked. */
export interface CheckedCall {
  readonly sessionId?: string;
  readonly item: Item;
  /** The resource a tool call targets, when named. */
  readonly resourceUri?: string;
  readonly arguments: Arguments;
}

/** Checks an Authorize question. Throws PdpError INVALID_REQUEST naming the first bad field. */
export function checkAuthorize(q: AuthorizeQuestion, limits: RequestLimits): CheckedCall {
  checkDelegation(q);
  const sessionId = checkSessionField(q.sessionId);
  if (q.action === undefined) invalid("action must be CALL_TOOL, READ_RESOURCE or GET_PROMPT");
  let item: Item;
  let resourceUri: string | undefined;
  if (q.action === "resource") {
    if (q.tool) invalid("tool is only for CALL_TOOL and GET_PROMPT");
    if (!q.resourceUri) invalid("resource_uri is required for READ_RESOURCE");
    item = { kind: "resource", name: checkUri(q.resourceUri) };
  } else {
    item = { kind: q.action, name: checkName(q.tool) };
    resourceUri = q.resourceUri ? checkUri(q.resourceUri) : undefined;
  }
  return {
    ...(sessionId !== undefined && { sessionId }),
    item,
    ...(resourceUri !== undefined && { resourceUri }),
    arguments: checkArguments(q.arguments, limits),
  };
}
