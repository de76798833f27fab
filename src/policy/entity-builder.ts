/**
 * The one place where Cedar entities, ids and context are built — from a verified
 * {@link DecisionInput} and the static entities of one loaded version, nothing else.
 *
 * Each entity that crosses into WASM costs ~14–30 µs, so the slice is minimal: always the
 * principal (Agent) and the resource; the user, server, client and IdP only when some policy of
 * the version may read them (`LoadedPolicySet.readsEntityTypes`, see entity-needs.ts), and the
 * client and IdP only when the static entities give them attributes or parents. Groups and sets
 * are never sent: every entity carries its ancestor closure (precomputed per version) as its
 * parents, which is all `in` needs. Entity references use the plain `{ type, id }` form, which
 * the schema lets Cedar read (cheaper than `__entity` escapes).
 * Unknown agents and users are still sent (verified attributes, no parents); unknown tools,
 * resources, prompts and servers are left out, so a policy that reads their attributes fails
 * to evaluate — which denies (see cedar-engine.ts).
 */
import type { CedarValueJson, Context, EntityJson } from "@cedar-policy/cedar-wasm/nodejs";
import { PdpError } from "../errors.js";
import type { LoadedPolicySet } from "./load-policy-set.js";
import type { JsonObject, KnownTool } from "./tool-definitions.js";
import type { DecisionInput, PolicyAction, ToolInfo } from "./types.js";

/** Entity types of the Cedar model (`cedar/schema.cedarschema`). */
export type EntityTypeName =
  | "Agent"
  | "AgentGroup"
  | "User"
  | "UserGroup"
  | "Client"
  | "Server"
  | "IdentityProvider"
  | "Tool"
  | "ToolSet"
  | "Resource"
  | "ResourceSet"
  | "Prompt"
  | "PromptSet"
  | "Action";

/** A Cedar entity uid with a typed entity type. */
export interface CedarUid<T extends EntityTypeName = EntityTypeName> {
  readonly type: T;
  readonly id: string;
}

/** Constructors for every typed id; the id formats are documented in the schema. */
export const cedarUid = {
  /** `Agent::"<SPIFFE ID>"`. */
  agent: (spiffeId: string): CedarUid<"Agent"> => ({ type: "Agent", id: spiffeId }),
  /** `User::"<issuer>#<subject>"`. */
  user: (issuer: string, subject: string): CedarUid<"User"> => ({ type: "User", id: `${issuer}#${subject}` }),
  /** `Client::"<client_id>"`. */
  client: (clientId: string): CedarUid<"Client"> => ({ type: "Client", id: clientId }),
  /** `Server::"<canonical server URI>"`. */
  server: (serverId: string): CedarUid<"Server"> => ({ type: "Server", id: serverId }),
  /** `IdentityProvider::"<issuer URL>"`. */
  idp: (issuer: string): CedarUid<"IdentityProvider"> => ({ type: "IdentityProvider", id: issuer }),
  /** `Tool::"<serverId>#<tool name>"`. */
  tool: (serverId: string, name: string): CedarUid<"Tool"> => ({ type: "Tool", id: `${serverId}#${name}` }),
  /** `Prompt::"<serverId>#<prompt name>"`. */
  prompt: (serverId: string, name: string): CedarUid<"Prompt"> => ({ type: "Prompt", id: `${serverId}#${name}` }),
  /** `Resource::"<resource URI>"`. */
  resource: (uri: string): CedarUid<"Resource"> => ({ type: "Resource", id: uri }),
  /** `Action::"<action>"`. */
  action: (action: PolicyAction): CedarUid<"Action"> => ({ type: "Action", id: action }),
} as const;

/** A Cedar request without the policy set and schema (the engine adds their preparsed ids). */
export interface CedarRequest {
  /** The agent; for `approve`, the approving user. */
  readonly principal: CedarUid<"Agent"> | CedarUid<"User">;
  readonly action: CedarUid<"Action">;
  readonly resource: CedarUid;
  readonly context: Context;
  readonly entities: EntityJson[];
}

/** Builds Cedar requests for one loaded version. */
export interface EntityBuilder {
  /** The Cedar request for a decision. Throws PdpError `INVALID_REQUEST` on a malformed input. */
  build(input: DecisionInput): CedarRequest;
  /** Static facts about a tool, or undefined when the entities do not list it. */
  tool(serverId: string, name: string): ToolInfo | undefined;
  /** A tool's declared definition, or undefined. */
  definition(serverId: string, name: string): KnownTool | undefined;
  /** How many static entities the version has. */
  readonly entityCount: number;
}

interface StaticEntity {
  /** The entity as sent to Cedar: its attributes and its ancestor closure as parents. */
  readonly json: EntityJson;
  readonly parents: readonly CedarUid[];
  /** Whether sending it can matter to a policy (it has attributes or ancestors). */
  readonly hasData: boolean;
}

const ACTIONS: ReadonlySet<string> = new Set<PolicyAction>(["open_session", "call_tool", "read_resource", "get_prompt", "approve"]);

/** Precomputes the static entities of a loaded version (ancestor closures, frozen JSON, tool facts). */
export function createEntityBuilder(loaded: LoadedPolicySet): EntityBuilder {
  const raw = new Map<string, EntityJson>();
  for (const e of loaded.entities) {
    const u = plainUid(e.uid);
    raw.set(key(u.type, u.id), e);
  }
  const index = new Map<string, StaticEntity>();
  const tools = new Map<string, ToolInfo>();
  for (const [k, e] of raw) {
    const parents = closure(plainUid(e.uid), raw);
    const attrs = plainRefs(e.attrs) as EntityJson["attrs"];
    const json = deepFreeze({ uid: plainUid(e.uid), attrs, parents: parents as CedarUid[] }) as EntityJson;
    index.set(k, { json, parents, hasData: parents.length > 0 || Object.keys(e.attrs).length > 0 });
    const u = plainUid(e.uid);
    if (u.type === "Tool") tools.set(u.id, toolInfo(e, raw));
  }

  const definitions: ReadonlyMap<string, KnownTool> = loaded.tools ?? new Map();
  /**
   * Context `args`: `{ <tool>: <typed arguments> }` for a call of a tool with a known definition,
   * else `{}` — also for a call judged without arguments (a grant: OpenSession, FilterTools).
   */
  const typedArgs = (input: DecisionInput): CedarValueJson => {
    if (input.action !== "call_tool" || !input.tool || (input.arguments === undefined && input.typedArguments === undefined)) return {};
    const known = definitions.get(cedarUid.tool(input.serverId, input.tool).id);
    if (!known) return {};
    return { [known.name]: (input.typedArguments ?? known.check(input.arguments as JsonObject)) as CedarValueJson };
  };
  /** Context `annotations`: declared hints always, reported ones only from a server marked `trust_annotations`. */
  const annotations = (input: DecisionInput): CedarValueJson | undefined => {
    if (input.action !== "call_tool" || !input.tool) return undefined;
    const declared = input.toolAnnotations ? undefined : definitions.get(cedarUid.tool(input.serverId, input.tool).id)?.definition.annotations;
    const a = input.toolAnnotations ?? (declared && { source: "declared" as const, hints: declared });
    if (!a) return undefined;
    if (a.source === "reported" && (raw.get(key("Server", input.serverId))?.attrs as { trust_annotations?: unknown } | undefined)?.trust_annotations !== true) return undefined;
    const out: Record<string, boolean> = {};
    if (typeof a.hints.readOnlyHint === "boolean") out["read_only"] = a.hints.readOnlyHint;
    if (typeof a.hints.destructiveHint === "boolean") out["destructive"] = a.hints.destructiveHint;
    if (typeof a.hints.idempotentHint === "boolean") out["idempotent"] = a.hints.idempotentHint;
    if (typeof a.hints.openWorldHint === "boolean") out["open_world"] = a.hints.openWorldHint;
    return out;
  };
  const staticJson = (u: CedarUid): EntityJson | undefined => index.get(key(u.type, u.id))?.json;
  const reads = loaded.readsEntityTypes;
  const sendUser = reads.has("User");
  const sendServer = reads.has("Server");
  const sendClient = reads.has("Client");
  const sendIdp = reads.has("IdentityProvider");

  /** `approve`: may this verified user approve this call of this tool by that agent for that user? */
  const approval = (input: DecisionInput): CedarRequest => {
    const principal = cedarUid.user(input.user.issuer, input.user.subject);
    const resource = cedarUid.tool(input.serverId, required(input.tool, "tool", input.action));
    const entities: EntityJson[] = [
      { uid: principal, attrs: { issuer: input.user.issuer, subject: input.user.subject }, parents: parentsOf(index, principal) },
    ];
    const resourceJson = staticJson(resource);
    if (resourceJson) entities.push(resourceJson);
    const context: Context = {
      requester: ref(cedarUid.agent(input.agent.id)),
      requesting_issuer: required(input.requestingUser?.issuer, "requestingUser", input.action),
      requesting_subject: required(input.requestingUser?.subject, "requestingUser", input.action),
      purpose: input.purpose,
    };
    return { principal, action: cedarUid.action("approve"), resource, context, entities };
  };

  return {
    entityCount: loaded.entities.length,
    tool: (serverId, name) => tools.get(cedarUid.tool(serverId, name).id),
    definition: (serverId, name) => definitions.get(cedarUid.tool(serverId, name).id),
    build(input) {
      if (!ACTIONS.has(input.action)) throw new PdpError("INVALID_REQUEST", `unknown action ${JSON.stringify(input.action)}`);
      if (input.action === "approve") return approval(input);
      const principal = cedarUid.agent(input.agent.id);
      const user = cedarUid.user(input.user.issuer, input.user.subject);
      const client = cedarUid.client(input.clientId);
      const server = cedarUid.server(input.serverId);
      const idp = cedarUid.idp(input.idp);
      const resource = resourceOf(input, server);

      // Principal: verified attributes, static ancestors (none when unknown). Resource: static only.
      const entities: EntityJson[] = [
        { uid: principal, attrs: { trust_domain: input.agent.trustDomain }, parents: parentsOf(index, principal) },
      ];
      const resourceJson = staticJson(resource);
      if (resourceJson) entities.push(resourceJson);
      if (sendUser) {
        entities.push({ uid: user, attrs: { issuer: input.user.issuer, subject: input.user.subject }, parents: parentsOf(index, user) });
      }
      if (sendServer && resource.type !== "Server") {
        const serverJson = staticJson(server);
        if (serverJson) entities.push(serverJson);
      }
      if (sendClient && index.get(key(client.type, client.id))?.hasData) entities.push(staticJson(client) as EntityJson);
      if (sendIdp && index.get(key(idp.type, idp.id))?.hasData) entities.push(staticJson(idp) as EntityJson);

      const context: Context = {
        user: ref(user),
        client: ref(client),
        server: ref(server),
        idp: ref(idp),
        purpose: input.purpose,
        scopes: [...input.user.scopes],
        argument_names: input.arguments ? Object.keys(input.arguments) : [],
        args: typedArgs(input),
      };
      if (input.resourceUri !== undefined) context["resource_uri"] = input.resourceUri;
      const hints = annotations(input);
      if (hints) context["annotations"] = hints;
      if (input.session) {
        context["session"] = {
          call_count: input.session.callCount,
          // Sets in Cedar: send each name once. The history repeats tools (up to the session's whole
          // call list), and every string crossing into WASM costs ~5 µs.
          tools: [...new Set(input.session.tools)],
          labels: [...new Set(input.session.labels)],
          risk_total: input.session.riskTotal,
        };
      }
      if (input.novelty) {
        const n = input.novelty;
        context["novelty"] = {
          client_for_user: n.clientForUser,
          agent_at_server: n.agentAtServer,
          client_at_server: n.clientAtServer,
          idp_for_server: n.idpForServer,
          new_scopes: [...n.newScopes],
          broker_path: n.brokerPath,
        };
      }
      if (input.approved !== undefined) context["approved"] = input.approved;
      if (input.claimsAsserted) context["claims_asserted"] = true;
      if (input.agentAttestation !== undefined) context["agent_attestation"] = input.agentAttestation;
      if (input.requestedTtlSeconds !== undefined) {
        if (!Number.isSafeInteger(input.requestedTtlSeconds)) {
          throw new PdpError("INVALID_REQUEST", "requestedTtlSeconds must be a whole number of seconds");
        }
        context["requested_ttl_seconds"] = input.requestedTtlSeconds;
      }
      return { principal, action: cedarUid.action(input.action), resource, context, entities };
    },
  };
}

/**
 * The Cedar action and resource of a decision — what picks its policy partition — without
 * building its entities. Throws PdpError `INVALID_REQUEST` like {@link EntityBuilder.build}.
 */
export function requestTarget(input: DecisionInput): { readonly action: string; readonly resource: CedarUid } {
  if (input.action === "approve") return { action: input.action, resource: cedarUid.tool(input.serverId, required(input.tool, "tool", input.action)) };
  return { action: input.action, resource: resourceOf(input, cedarUid.server(input.serverId)) };
}

function resourceOf(input: DecisionInput, server: CedarUid<"Server">): CedarUid {
  switch (input.action) {
    case "open_session":
      return server;
    case "call_tool":
      return cedarUid.tool(input.serverId, required(input.tool, "tool", input.action));
    case "get_prompt":
      return cedarUid.prompt(input.serverId, required(input.tool, "tool", input.action));
    case "read_resource":
      return cedarUid.resource(required(input.resourceUri, "resourceUri", input.action));
    default:
      throw new PdpError("INVALID_REQUEST", `${input.action} has no resource here`);
  }
}

/** An entity reference in the context, in the plain form the schema lets Cedar read. */
function ref(u: CedarUid): CedarValueJson {
  return { type: u.type, id: u.id };
}

function required(value: string | undefined, field: string, action: string): string {
  if (!value) throw new PdpError("INVALID_REQUEST", `${action} needs ${field}`);
  return value;
}

function key(type: string, id: string): string {
  return `${type}\u0000${id}`;
}

function plainUid(u: EntityJson["uid"]): CedarUid {
  const o = "__entity" in u ? u.__entity : u;
  return { type: o.type as EntityTypeName, id: o.id };
}

const NO_PARENTS: readonly CedarUid[] = Object.freeze([]);

function parentsOf(index: ReadonlyMap<string, StaticEntity>, u: CedarUid): CedarUid[] {
  return (index.get(key(u.type, u.id))?.parents ?? NO_PARENTS) as CedarUid[];
}

/** Every ancestor of an entity (parents, their parents, …), each once, in discovery order. */
function closure(start: CedarUid, raw: ReadonlyMap<string, EntityJson>): readonly CedarUid[] {
  const out: CedarUid[] = [];
  const seen = new Set<string>([key(start.type, start.id)]);
  const stack = [...(raw.get(key(start.type, start.id))?.parents ?? [])].map(plainUid).reverse();
  while (stack.length > 0) {
    const p = stack.pop() as CedarUid;
    const k = key(p.type, p.id);
    if (seen.has(k)) continue;
    seen.add(k);
    out.push(p);
    stack.push(...[...(raw.get(k)?.parents ?? [])].map(plainUid).reverse());
  }
  return Object.freeze(out);
}

/** A copy of a Cedar JSON value with `{ "__entity": { type, id } }` written as `{ type, id }`. */
function plainRefs(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(plainRefs);
  if (typeof v !== "object" || v === null) return v;
  if ("__entity" in v) return { ...(v as { __entity: object }).__entity };
  return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plainRefs(x)]));
}

function toolInfo(e: EntityJson, raw: ReadonlyMap<string, EntityJson>): ToolInfo {
  const a = e.attrs as Record<string, unknown>;
  const server = a["server"] as { __entity?: { id: string }; id?: string } | undefined;
  const serverId = server?.__entity?.id ?? server?.id ?? "";
  const serverAttrs = raw.get(key("Server", serverId))?.attrs as { broker?: unknown; vendor?: unknown } | undefined;
  const vendor = typeof a["upstream_vendor"] === "string" ? a["upstream_vendor"] : typeof serverAttrs?.vendor === "string" ? serverAttrs.vendor : "";
  return Object.freeze({
    serverId,
    name: String(a["name"]),
    risk: Number(a["risk"]),
    labels: Object.freeze([...((a["labels"] as string[] | undefined) ?? [])]),
    impact: String(a["impact"]),
    requiredScopes: Object.freeze([...((a["required_scopes"] as string[] | undefined) ?? [])]),
    ...(serverAttrs?.broker === true && { brokerPath: `${serverId} -> ${vendor}` }),
  });
}

function deepFreeze<T>(v: T): T {
  if (typeof v === "object" && v !== null && !Object.isFrozen(v)) {
    Object.freeze(v);
    for (const x of Object.values(v)) deepFreeze(x);
  }
  return v;
}
