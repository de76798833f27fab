/**
 * AuthZEN 1.0 request bodies → the decision core's questions (step 1 of 3 of the AuthZEN door;
 * `authzen-response.ts` shapes the answers, `authzen-route.ts` runs them).
 *
 * Two kinds of fault, as the specification separates them: a body that is not an AuthZEN request
 * (a required `subject`/`action`/`resource` member missing or of the wrong JSON type) is refused
 * as a whole with 400; a well-formed request that asks something this PDP cannot decide (an
 * unknown action, a resource of the wrong type, no tokens) is an evaluation like any other —
 * DENY `INVALID_REQUEST` with its record — through the question's `malformed` field.
 *
 * The MCP mapping follows the COAZ-MCP binding's default mappings (`tools/call` → resource
 * `{type: "tool", id: name}`, the user as `subject` of type `identity`, the client as
 * `context.agent`), with one difference that is the point of this PDP: the request carries the
 * user's and the agent's TOKENS (`subject.properties.token`, `context.workload_token`), which the
 * PDP verifies, rather than claims a PEP decoded. `subject.id` must be the verified token's `sub`.
 * A request without tokens may carry the claims instead (`subject.properties.iss`/`scope`,
 * `context.workload_id`); the core takes them only from a caller trusted to assert them.
 */
import type { AssertedClaims, AuthorizeQuestion, DelegatedQuestion, ItemKind, JsonObject, OpenSessionQuestion } from "../decision/types.js";
import type { VerifiedCaller } from "../identity/types.js";
import { HttpError } from "./http-error.js";
import { isRecord, type JsonRecord } from "./json-body.js";

/** An AuthZEN subject or resource. */
export interface AuthzenEntity {
  readonly type: string;
  readonly id: string;
  readonly properties: JsonRecord;
}

/** An AuthZEN action. */
export interface AuthzenAction {
  readonly name: string;
  readonly properties: JsonRecord;
}

/** One Access Evaluation request, with its structure checked. */
export interface AuthzenEvaluation {
  readonly subject: AuthzenEntity;
  readonly action: AuthzenAction;
  readonly resource: AuthzenEntity;
  readonly context: JsonRecord;
}

/** The `options.evaluations_semantic` values of the Access Evaluations API. */
export const EVALUATIONS_SEMANTICS = ["execute_all", "deny_on_first_deny", "permit_on_first_permit"] as const;

/** How a batch is run. */
export type EvaluationsSemantic = (typeof EVALUATIONS_SEMANTICS)[number];

/** An Access Evaluations request: its evaluations (defaults applied) and semantic. */
export interface AuthzenBatch {
  readonly evaluations: readonly AuthzenEvaluation[];
  readonly semantic: EvaluationsSemantic;
  /** No (or an empty) `evaluations` array: answered as a single Access Evaluation. */
  readonly single: boolean;
}

/** What one evaluation asks the core. */
export type AuthzenQuestion =
  | { readonly kind: "authorize"; readonly question: AuthorizeQuestion }
  | { readonly kind: "open_session"; readonly question: OpenSessionQuestion }
  | { readonly kind: "end_session"; readonly sessionId: string };

/** Longest `type`, `id` or action `name` taken at all (a longer one is a 400, not a record). */
const MAX_MEMBER = 4096;

function bad(message: string): never {
  throw new HttpError(400, message);
}

function entity(value: unknown, name: string): AuthzenEntity {
  if (!isRecord(value)) bad(`${name} is required and must be an object`);
  const { type, id, properties = {} } = value;
  if (typeof type !== "string" || type.length === 0 || type.length > MAX_MEMBER) bad(`${name}.type is required and must be a non-empty string`);
  if (typeof id !== "string" || id.length === 0 || id.length > MAX_MEMBER) bad(`${name}.id is required and must be a non-empty string`);
  if (!isRecord(properties)) bad(`${name}.properties must be an object`);
  return { type, id, properties };
}

function action(value: unknown): AuthzenAction {
  if (!isRecord(value)) bad("action is required and must be an object");
  const { name, properties = {} } = value;
  if (typeof name !== "string" || name.length === 0 || name.length > MAX_MEMBER) bad("action.name is required and must be a non-empty string");
  if (!isRecord(properties)) bad("action.properties must be an object");
  return { name, properties };
}

function context(value: unknown, name = "context"): JsonRecord {
  if (value === undefined) return {};
  if (!isRecord(value)) bad(`${name} must be an object`);
  return value;
}

/** An Access Evaluation request body: subject, action and resource are required (400 otherwise). */
export function parseEvaluation(body: JsonRecord, at = ""): AuthzenEvaluation {
  return {
    subject: entity(body.subject, `${at}subject`),
    action: action(body.action),
    resource: entity(body.resource, `${at}resource`),
    context: context(body.context, `${at}context`),
  };
}

/**
 * An Access Evaluations request body: each entry of `evaluations` takes the top-level `subject`,
 * `action`, `resource` and `context` as defaults (a key an entry sets replaces the default whole).
 */
export function parseBatch(body: JsonRecord, maxEvaluations: number): AuthzenBatch {
  const options = context(body.options, "options");
  const semantic = options.evaluations_semantic ?? "execute_all";
  if (!EVALUATIONS_SEMANTICS.includes(semantic as EvaluationsSemantic))
    bad(`options.evaluations_semantic must be one of ${EVALUATIONS_SEMANTICS.join(", ")}`);
  const list = body.evaluations ?? [];
  if (!Array.isArray(list)) bad("evaluations must be an array");
  if (list.length > maxEvaluations) bad(`at most ${maxEvaluations} evaluations per request`);
  if (list.length === 0) return { evaluations: [parseEvaluation(body)], semantic: semantic as EvaluationsSemantic, single: true };
  const evaluations = list.map((entry: unknown, i) => {
    if (!isRecord(entry)) bad(`evaluations[${i}] must be an object`);
    const merged: JsonRecord = {
      subject: entry.subject ?? body.subject,
      action: entry.action ?? body.action,
      resource: entry.resource ?? body.resource,
      context: entry.context ?? body.context,
    };
    return parseEvaluation(merged, `evaluations[${i}].`);
  });
  return { evaluations, semantic: semantic as EvaluationsSemantic, single: false };
}

/** The MCP item kinds, by AuthZEN action name (COAZ-MCP method names, and this PDP's Cedar action names). */
const ITEM_ACTIONS: Readonly<Record<string, ItemKind>> = {
  "tools/call": "tool",
  call_tool: "tool",
  "resources/read": "resource",
  read_resource: "resource",
  "prompts/get": "prompt",
  get_prompt: "prompt",
};

/** The AuthZEN `resource.type` each item kind must come with. */
const RESOURCE_TYPE: Readonly<Record<ItemKind, string>> = { tool: "tool", resource: "resource", prompt: "prompt" };

/** The action names this door answers (anything else is DENY INVALID_REQUEST: unknown methods fail closed). */
export const ACTION_NAMES: readonly string[] = [...Object.keys(ITEM_ACTIONS), "open_session", "end_session"];

/** Subject types accepted for the user (COAZ-MCP: `identity`). */
const SUBJECT_TYPES = new Set(["identity", "user"]);

const text = (value: unknown): string => (typeof value === "string" ? value : "");

/** A string-valued member that must be a string when present; records the fault in `faults`. */
function optionalString(record: JsonRecord, key: string, where: string, faults: string[]): string | undefined {
  const v = record[key];
  if (v === undefined) return undefined;
  if (typeof v !== "string") faults.push(`${where}.${key} must be a string`);
  return text(v);
}

function stringList(record: JsonRecord, key: string, faults: string[]): string[] {
  const v = record[key];
  if (v === undefined) return [];
  if (!Array.isArray(v) || v.some((x) => typeof x !== "string")) {
    faults.push(`context.${key} must be an array of strings`);
    return [];
  }
  return v as string[];
}

/**
 * The delegation fields of an evaluation: the tokens, the declared subject, client, server and
 * purpose. The server defaults to the caller's own identity (a PEP asks for itself), as the
 * COAZ-MCP default mappings leave it to the token's audience.
 */
function delegation(e: AuthzenEvaluation, caller: VerifiedCaller | undefined, faults: string[]): DelegatedQuestion {
  const c = e.context;
  if (!SUBJECT_TYPES.has(e.subject.type)) faults.push(`subject.type must be "identity" (the user on whose behalf the agent acts)`);
  const userToken = optionalString(e.subject.properties, "token", "subject.properties", faults);
  const workloadToken = optionalString(c, "workload_token", "context", faults);
  const asserted = !userToken && !workloadToken ? assertedClaims(e, faults) : undefined;
  if (!asserted && (!userToken || !workloadToken))
    faults.push(
      userToken || workloadToken
        ? "both tokens are required: the user's (subject.properties.token) and the agent's workload token (context.workload_token)"
        : "claims-only request: send the user's token (subject.properties.token) and the agent's workload token (context.workload_token); only a caller trusted to assert claims (http.claimAsserters) may send subject.properties.iss and context.workload_id instead",
    );
  const clientId = optionalString(c, "client_id", "context", faults);
  const agent = optionalString(c, "agent", "context", faults);
  if (clientId !== undefined && agent !== undefined && clientId !== agent) faults.push("context.client_id and context.agent name different clients");
  const declaredServer = optionalString(c, "server_id", "context", faults);
  const resourceServer = e.resource.type === "mcp_server" ? e.resource.id : undefined;
  if (declaredServer !== undefined && resourceServer !== undefined && declaredServer !== resourceServer)
    faults.push("context.server_id and the mcp_server resource name different servers");
  const ownServer = caller && caller.via !== "development" ? caller.id : undefined;
  const serverId = declaredServer ?? resourceServer ?? ownServer ?? "";
  const purpose = optionalString(c, "purpose", "context", faults) ?? "";
  // Named as this wire names them (the core's own messages name the gRPC fields).
  if (!(clientId ?? agent)) faults.push("context.agent (the MCP client, or context.client_id) is required");
  if (!serverId) faults.push("context.server_id is required (unless the caller authenticates as the MCP server)");
  if (!purpose) faults.push("context.purpose is required");
  return {
    userToken: userToken ?? "",
    workloadToken: workloadToken ?? "",
    clientId: clientId ?? agent ?? "",
    serverId,
    purpose,
    userSubject: e.subject.id,
    ...(asserted && { asserted }),
  };
}

/**
 * The claims of a request without tokens: the user's issuer (`subject.properties.iss`), subject
 * (`subject.id`) and scopes (`subject.properties.scope`, space-separated as in a token), and the
 * agent's workload id (`context.workload_id`). Undefined when the issuer or the workload id is
 * missing. Whether the caller may assert them is the core's decision.
 */
function assertedClaims(e: AuthzenEvaluation, faults: string[]): AssertedClaims | undefined {
  const p = e.subject.properties;
  const issuer = optionalString(p, "iss", "subject.properties", faults);
  const agentId = optionalString(e.context, "workload_id", "context", faults);
  const scope = optionalString(p, "scope", "subject.properties", faults) ?? "";
  if (!issuer || !agentId) return undefined;
  return { user: { issuer, subject: e.subject.id, scopes: scope.split(" ").filter((s) => s.length > 0) }, agentId };
}

/** The first fault found, as the question's `malformed` (the core refuses it as INVALID_REQUEST, with its record). */
function withFaults<T extends DelegatedQuestion>(q: T, faults: readonly string[]): T {
  return faults.length === 0 ? q : { ...q, malformed: faults[0]! };
}

/**
 * What one evaluation asks the core. Never throws: everything that is wrong inside a well-formed
 * evaluation is a fault the core refuses with a record.
 */
export function toQuestion(e: AuthzenEvaluation, caller: VerifiedCaller | undefined): AuthzenQuestion {
  const faults: string[] = [];
  const c = e.context;
  const name = e.action.name;
  if (name === "end_session") {
    if (e.resource.type !== "session") return { kind: "authorize", question: withFaults(emptyAuthorize(e, caller), ['end_session needs resource {"type": "session", "id": <session handle>}']) };
    return { kind: "end_session", sessionId: e.resource.id };
  }
  const base = delegation(e, caller, faults);
  if (name === "open_session") {
    if (e.resource.type !== "mcp_server") faults.push('open_session needs resource {"type": "mcp_server", "id": <server id>}');
    const ttl = c.ttl_seconds ?? 0;
    if (typeof ttl !== "number" || !Number.isFinite(ttl) || ttl < 0) faults.push("context.ttl_seconds must be a non-negative number");
    const question: OpenSessionQuestion = {
      ...base,
      tools: stringList(c, "tools", faults),
      resources: stringList(c, "resources", faults),
      prompts: stringList(c, "prompts", faults),
      ttlMs: typeof ttl === "number" && Number.isFinite(ttl) ? Math.round(ttl * 1000) : 0,
    };
    return { kind: "open_session", question: withFaults(question, faults) };
  }
  const kind = ITEM_ACTIONS[name];
  if (kind === undefined) faults.push(`action.name must be one of ${ACTION_NAMES.join(", ")}`);
  else if (e.resource.type !== RESOURCE_TYPE[kind]) faults.push(`${name} needs a resource of type "${RESOURCE_TYPE[kind]}"`);
  const args = c.arguments;
  if (args !== undefined && !isRecord(args)) faults.push("context.arguments must be an object");
  const question: AuthorizeQuestion = {
    ...base,
    sessionId: optionalString(c, "session_id", "context", faults) ?? "",
    action: kind,
    tool: kind === "resource" ? "" : e.resource.id,
    resourceUri: kind === "resource" ? e.resource.id : (optionalString(e.resource.properties, "resource_uri", "resource.properties", faults) ?? ""),
    arguments: isRecord(args) ? (args as JsonObject) : undefined,
  };
  return { kind: "authorize", question: withFaults(question, faults) };
}

function emptyAuthorize(e: AuthzenEvaluation, caller: VerifiedCaller | undefined): AuthorizeQuestion {
  return { ...delegation(e, caller, []), sessionId: "", action: undefined, tool: "", resourceUri: "", arguments: undefined };
}
