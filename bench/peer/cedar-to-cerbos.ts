/**
 * Translates a Cedar policy directory (the benchmark's: shipped `cedar/` plus generated policies)
 * into equivalent Cerbos resource policies, mechanically from each policy's JSON form (cedar-wasm
 * `policyToJson`), so the peer evaluates the same rules as mcp-pdp. A construct the translator does
 * not know stops the run (nothing is silently dropped, except what is out of the bench's scope:
 * the `approve` action and the read_resource / get_prompt parts of a rule).
 *
 * The Cerbos model (what a PEP in front of Cerbos would send, built by {@link CerbosModel}):
 * - principal: the agent; id = SPIFFE ID; roles = `agent` + every AgentGroup it is in
 *   (transitively, from the entities); attr = the request's context: purpose, argument_names,
 *   session {call_count, tools, labels, risk_total} (tracked by the PEP), requested_ttl_seconds,
 *   and, without a JWT, the user's idp and scopes.
 * - resource `tool` (call_tool): id = `<server>#<name>`; attr = the tool's static facts (risk,
 *   labels, impact, idps, required_scopes), `toolsets` (every ToolSet it is in) and `server`
 *   (the server's facts: broker, vendor, trusted_idps, max_session_ttl_seconds).
 * - resource `server` (open_session): id = the server URI; attr.server = its facts.
 * - With a JWT (`jwt: true`), the idp and scopes come from the verified token in auxData
 *   (`request.auxData.jwt.iss`, `.scope`), as Cerbos' JWT support is meant to be used.
 *
 * Semantics: Cedar's forbid-overrides-permit and default deny are Cerbos' DENY-overrides-ALLOW
 * within a resource policy and its default deny. Cedar `unless` is a negated condition. Numbers
 * are compared as doubles (Cerbos attributes are JSON numbers).
 */
import { readFileSync, readdirSync, writeFileSync, mkdirSync } from "node:fs";
import path from "node:path";
import { policySetTextToParts, policyToJson } from "@cedar-policy/cedar-wasm/nodejs";

/** One Cedar entity as stored in `entities/*.json`. */
interface EntityJson {
  readonly uid: { readonly type: string; readonly id: string };
  readonly attrs: Record<string, unknown>;
  readonly parents: readonly { readonly type: string; readonly id: string }[];
}

/** The actions the bench exercises, by Cerbos resource kind. */
const TOOL_ACTIONS = ["call_tool"];
const SERVER_ACTIONS = ["open_session"];
/** The action groups of the schema (`action … in [mcp_request]`). */
const ACTION_GROUPS: Record<string, readonly string[]> = { mcp_request: ["open_session", "call_tool", "read_resource", "get_prompt"] };

/** Cerbos resource kinds: one `tool` kind, or one per server (`tool_<n>`, see {@link Layout}). */
export type Layout = "one" | "per-server";

/** The static facts a PEP in front of Cerbos sends with each request. */
export interface ToolFacts {
  readonly kind: string;
  readonly id: string;
  readonly attr: Record<string, unknown>;
}

/** A translated policy set and the lookups to build requests for it. */
export interface CerbosModel {
  /** Cerbos policy documents (JSON, which is YAML), by file name. */
  readonly files: ReadonlyMap<string, unknown>;
  /** Cedar policies read, and how many Cerbos rules they became. */
  readonly cedarPolicies: number;
  readonly cerbosRules: number;
  /** Cedar policies left out (actions outside the bench's scope), by id. */
  readonly skipped: readonly string[];
  /** Roles of an agent (`agent` + its groups). */
  roles(agentId: string): string[];
  /** The resource of a tool call, or undefined for a tool the entities do not know. */
  tool(serverId: string, name: string): ToolFacts | undefined;
  /** The resource of an open_session. */
  server(serverId: string): ToolFacts;
  /** Every tool of a server, by name. */
  toolsOf(serverId: string): string[];
  /** Servers and agents the entities name. */
  readonly servers: readonly string[];
  readonly agents: readonly string[];
  /** Who may open sessions where and for what (open_session permits of the form group/server/purpose), to sample plausible tasks. */
  readonly openGrants: readonly { readonly group: string; readonly serverId: string; readonly purpose: string }[];
}

type Json = Record<string, unknown>;

function entityId(v: unknown): string {
  const e = (v as { __entity?: { id: string } }).__entity;
  if (!e) throw new Error(`expected an entity reference, got ${JSON.stringify(v)}`);
  return e.id;
}

/** Entity attribute values as Cerbos sees them: entity references become their ids. */
function plain(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === "object") {
    if ("__entity" in v) return entityId(v);
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  }
  return v;
}

function readEntities(dir: string): EntityJson[] {
  const d = path.join(dir, "entities");
  return readdirSync(d)
    .filter((f) => f.endsWith(".json"))
    .sort()
    .flatMap((f) => JSON.parse(readFileSync(path.join(d, f), "utf8")) as EntityJson[]);
}

function readPolicies(dir: string): Json[] {
  const d = path.join(dir, "policies");
  const out: Json[] = [];
  for (const f of readdirSync(d).filter((x) => x.endsWith(".cedar")).sort()) {
    const parts = policySetTextToParts(readFileSync(path.join(d, f), "utf8"));
    if (parts.type !== "success") throw new Error(`${f}: ${JSON.stringify(parts.errors)}`);
    for (const p of parts.policies) {
      const j = policyToJson(p);
      if (j.type !== "success") throw new Error(`${f}: ${JSON.stringify(j.errors)}`);
      out.push(j.json as unknown as Json);
    }
  }
  return out;
}

/** A CEL string literal. */
const str = (s: string) => JSON.stringify(s);

/** Where the translation of one expression happens: which resource kind, and the idp/scopes source. */
interface Ctx {
  readonly kind: "tool" | "server";
  readonly jwt: boolean;
}

const JWT_SCOPES = `(has(request.auxData.jwt.scope) ? request.auxData.jwt.scope.split(" ") : [])`;

/** CEL for an attribute path rooted at a Cedar variable, e.g. `context.session.call_count`. */
function pathCel(root: string, attrs: readonly string[], c: Ctx): string {
  const [first, ...rest] = attrs;
  const tail = rest.map((a) => `.${a}`).join("");
  if (root === "context") {
    if (first === "server") return `R.attr.server${tail}`;
    if (first === "idp") {
      if (rest.length) throw new Error("context.idp has no attributes here");
      return c.jwt ? "request.auxData.jwt.iss" : "P.attr.idp";
    }
    if (first === "scopes") {
      if (rest.length) throw new Error("context.scopes has no attributes");
      return c.jwt ? JWT_SCOPES : "P.attr.scopes";
    }
    if (["purpose", "argument_names", "session", "requested_ttl_seconds", "approved"].includes(first!)) return `P.attr.${first}${tail}`;
    throw new Error(`context.${attrs.join(".")} is not translated`);
  }
  if (root === "resource") return c.kind === "tool" ? `R.attr.${attrs.join(".")}` : `R.attr.server.${attrs.join(".")}`;
  throw new Error(`${root}.${attrs.join(".")} is not translated`);
}

/** Flattens `a.b.c` (nested `.`) into its root variable and attribute list. */
function attrPath(e: Json): { root: string; attrs: string[] } | undefined {
  const attrs: string[] = [];
  let cur: Json = e;
  for (;;) {
    if ("." in cur) {
      const d = cur["."] as { left: Json; attr: string };
      attrs.unshift(d.attr);
      cur = d.left;
    } else if ("Var" in cur) return { root: cur.Var as string, attrs };
    else return undefined;
  }
}

function valueCel(v: unknown): string {
  if (typeof v === "string") return str(v);
  if (typeof v === "boolean") return String(v);
  if (typeof v === "number") return Number.isInteger(v) ? `${v}.0` : String(v);
  if (Array.isArray(v)) return `[${v.map(valueCel).join(", ")}]`;
  if (v && typeof v === "object" && "__entity" in v) {
    const e = (v as { __entity: { type: string; id: string } }).__entity;
    if (e.type === "IdentityProvider") return str(e.id);
  }
  throw new Error(`value ${JSON.stringify(v)} is not translated`);
}

/** CEL for a Cedar expression (JSON form). Throws on anything it does not know. */
function cel(e: Json, c: Ctx): string {
  const [op] = Object.keys(e);
  const a = e[op!] as Json;
  const bin = (sym: string) => `(${cel(a.left as Json, c)} ${sym} ${cel(a.right as Json, c)})`;
  switch (op) {
    case "Value":
      return valueCel(a);
    case "Set":
      return `[${(a as unknown as Json[]).map((x) => cel(x, c)).join(", ")}]`;
    case ".":
    case "Var": {
      const p = attrPath(e);
      if (!p || p.attrs.length === 0) throw new Error(`bare ${JSON.stringify(e)} is not translated`);
      return pathCel(p.root, p.attrs, c);
    }
    case "has": {
      const left = attrPath(a.left as Json);
      if (!left) throw new Error(`has on ${JSON.stringify(a.left)}`);
      return `has(${pathCel(left.root, [...left.attrs, a.attr as string], c)})`;
    }
    case "!":
      return `!(${cel(a.arg as Json, c)})`;
    case "&&":
      return bin("&&");
    case "||":
      return bin("||");
    case "==":
      return bin("==");
    case "!=":
      return bin("!=");
    case "<":
      return bin("<");
    case "<=":
      return bin("<=");
    case ">":
      return bin(">");
    case ">=":
      return bin(">=");
    case "+":
      return bin("+");
    case "-":
      return bin("-");
    case "contains":
      return `(${cel(a.right as Json, c)} in ${cel(a.left as Json, c)})`;
    case "containsAll":
      return `${cel(a.right as Json, c)}.all(x, x in ${cel(a.left as Json, c)})`;
    case "containsAny":
      return `${cel(a.right as Json, c)}.exists(x, x in ${cel(a.left as Json, c)})`;
    case "in": {
      const left = a.left as Json;
      const right = a.right as Json;
      const ent = (right.Value as { __entity?: { type: string; id: string } } | undefined)?.__entity;
      if (ent && (left as { Var?: string }).Var === "principal" && ent.type === "AgentGroup") return `(${str(ent.id)} in P.roles)`;
      if (ent && (left as { Var?: string }).Var === "resource" && ent.type === "ToolSet")
        return c.kind === "tool" ? `(${str(ent.id)} in R.attr.toolsets)` : "false";
      throw new Error(`in ${JSON.stringify(a)} is not translated`);
    }
    default:
      throw new Error(`operator ${op} is not translated (${JSON.stringify(e).slice(0, 200)})`);
  }
}

/** The concrete actions a Cedar action scope covers. */
function actionsOf(scope: Json): string[] {
  const op = scope.op as string;
  const ids = (list: Json[]) => list.flatMap((x) => ACTION_GROUPS[x.id as string] ?? [x.id as string]);
  if (op === "All") return [...ACTION_GROUPS.mcp_request!, "approve"];
  if (op === "==") return [(scope.entity as Json).id as string];
  if (op === "in") return scope.entities ? ids(scope.entities as Json[]) : ids([scope.entity as Json]);
  throw new Error(`action scope ${op} is not translated`);
}

/**
 * Translates the Cedar directory `dir` into Cerbos policies.
 *
 * `layout: "per-server"` gives each server's tools their own resource kind (`tool_<n>`), so a
 * call is checked only against the rules that can name a tool of its server — the partition
 * mcp-pdp makes by itself (rules with no resource scope go to every kind). `"one"` is the
 * literal translation: one `tool` kind with every rule.
 */
export function translate(dir: string, options: { jwt: boolean; layout: Layout }): CerbosModel {
  const entities = readEntities(dir);
  const byUid = new Map(entities.map((e) => [`${e.uid.type}::${e.uid.id}`, e]));
  const ancestors = (type: string, id: string): { type: string; id: string }[] => {
    const out = new Map<string, { type: string; id: string }>();
    const stack = [...(byUid.get(`${type}::${id}`)?.parents ?? [])];
    while (stack.length) {
      const p = stack.pop()!;
      const k = `${p.type}::${p.id}`;
      if (out.has(k)) continue;
      out.set(k, p);
      stack.push(...(byUid.get(k)?.parents ?? []));
    }
    return [...out.values()];
  };
  const servers = entities.filter((e) => e.uid.type === "Server").map((e) => e.uid.id);
  const agents = entities.filter((e) => e.uid.type === "Agent").map((e) => e.uid.id);
  const serverIndex = new Map(servers.map((s, i) => [s, i]));
  const toolKind = (serverId: string) => (options.layout === "one" ? "tool" : `tool_${serverIndex.get(serverId)}`);
  const serverFacts = (id: string) => {
    const e = byUid.get(`Server::${id}`);
    if (!e) throw new Error(`server ${id} is not in the entities`);
    return { ...(plain(e.attrs) as Json) };
  };
  const tools = entities.filter((e) => e.uid.type === "Tool");
  const toolFacts = new Map<string, ToolFacts>();
  const toolsByServer = new Map<string, string[]>();
  /** Servers whose tools are in a ToolSet. */
  const setServers = new Map<string, Set<string>>();
  for (const t of tools) {
    const server = entityId(t.attrs.server);
    const name = t.attrs.name as string;
    const toolsets = ancestors("Tool", t.uid.id)
      .filter((p) => p.type === "ToolSet")
      .map((p) => p.id);
    for (const s of toolsets) setServers.set(s, (setServers.get(s) ?? new Set()).add(server));
    const { server: _s, ...rest } = plain(t.attrs) as Json;
    toolFacts.set(t.uid.id, { kind: toolKind(server), id: t.uid.id, attr: { ...rest, toolsets, server: serverFacts(server) } });
    toolsByServer.set(server, [...(toolsByServer.get(server) ?? []), name]); // a few per server
  }

  const rules = new Map<string, Json[]>();
  const addRule = (kind: string, rule: Json) => {
    const list = rules.get(kind) ?? [];
    list.push(rule);
    rules.set(kind, list);
  };
  const policies = readPolicies(dir);
  const skipped: string[] = [];
  const openGrants: { group: string; serverId: string; purpose: string }[] = [];
  const names = new Set<string>();
  let cerbosRules = 0;
  for (const p of policies) {
    const id = String((p.annotations as Json | undefined)?.id ?? `policy-${names.size}`);
    const actions = actionsOf(p.action as Json);
    const principal = p.principal as Json;
    const resource = p.resource as Json;
    let roles = ["*"];
    const conds: string[] = [];
    if (principal.op === "in" && (principal.entity as Json).type === "AgentGroup") roles = [(principal.entity as Json).id as string];
    else if (principal.op === "==" && (principal.entity as Json).type === "Agent") conds.push(`(P.id == ${str((principal.entity as Json).id as string)})`);
    else if (principal.op !== "All") {
      if (actions.every((x) => x === "approve")) {
        skipped.push(id);
        continue;
      }
      throw new Error(`${id}: principal scope ${JSON.stringify(principal)} is not translated`);
    }
    // Which kinds (and so which servers) the resource scope can reach.
    let kinds: { tool: string[] | "all"; server: string[] | "all" | "none" } = { tool: "all", server: "all" };
    if (resource.op === "in" || resource.op === "is") {
      const ent = (resource.op === "in" ? resource.entity : (resource.in as Json | undefined)?.entity) as Json | undefined;
      if (resource.op === "is" && resource.entity_type !== "Tool") throw new Error(`${id}: resource is ${resource.entity_type as string}`);
      if (ent) {
        if (ent.type !== "ToolSet") throw new Error(`${id}: resource in ${ent.type as string}`);
        conds.push(`(${str(ent.id as string)} in R.attr.toolsets)`);
        kinds = { tool: [...(setServers.get(ent.id as string) ?? [])], server: "none" };
      } else kinds = { tool: "all", server: "none" };
    } else if (resource.op === "==") {
      const ent = resource.entity as Json;
      if (ent.type === "Tool") {
        conds.push(`(R.id == ${str(ent.id as string)})`);
        const t = byUid.get(`Tool::${ent.id as string}`);
        kinds = { tool: t ? [entityId(t.attrs.server)] : [], server: "none" };
      } else if (ent.type === "Server") {
        conds.push(`(R.id == ${str(ent.id as string)})`);
        kinds = { tool: [], server: [ent.id as string] };
      } else throw new Error(`${id}: resource == ${ent.type as string}`);
    } else if (resource.op !== "All") throw new Error(`${id}: resource scope ${resource.op as string}`);

    const emit = (kind: "tool" | "server", cerbosKinds: string[], acts: string[]) => {
      if (!acts.length || !cerbosKinds.length) return;
      const c: Ctx = { kind, jwt: options.jwt };
      const parts = [...conds];
      for (const cond of (p.conditions as Json[]) ?? []) {
        const body = cel(cond.body as Json, c);
        parts.push(cond.kind === "unless" ? `!(${body})` : `(${body})`);
      }
      let name = id.replace(/[^A-Za-z0-9_.-]/g, "_");
      while (names.has(`${kind}:${name}`)) name += "_";
      names.add(`${kind}:${name}`);
      const rule: Json = { name, actions: acts, effect: p.effect === "forbid" ? "EFFECT_DENY" : "EFFECT_ALLOW", roles };
      if (parts.length) rule.condition = { match: { expr: parts.join(" && ") } };
      for (const k of cerbosKinds) {
        addRule(k, rule);
        cerbosRules++;
      }
    };
    const purposeIs = ((p.conditions as Json[] | undefined)?.[0]?.body as Json | undefined)?.["=="] as Json | undefined;
    if (p.effect === "permit" && principal.op === "in" && resource.op === "==" && actions.includes("open_session") && purposeIs && (p.conditions as Json[]).length === 1)
      if (attrPath(purposeIs.left as Json)?.attrs.join(".") === "purpose" && typeof (purposeIs.right as Json).Value === "string")
        openGrants.push({ group: roles[0]!, serverId: (resource.entity as Json).id as string, purpose: (purposeIs.right as Json).Value as string });
    const toolActs = actions.filter((x) => TOOL_ACTIONS.includes(x));
    const serverActs = actions.filter((x) => SERVER_ACTIONS.includes(x));
    if (!toolActs.length && !serverActs.length) {
      skipped.push(id);
      continue;
    }
    const allToolKinds = [...new Set(servers.map(toolKind))];
    emit("tool", kinds.tool === "all" ? allToolKinds : [...new Set(kinds.tool.map(toolKind))], toolActs);
    emit("server", kinds.server === "none" ? [] : ["server"], serverActs);
  }

  const files = new Map<string, unknown>();
  for (const [kind, list] of rules)
    files.set(`${kind}.yaml`, { apiVersion: "api.cerbos.dev/v1", resourcePolicy: { resource: kind, version: "default", rules: list } });
  return {
    files,
    cedarPolicies: policies.length,
    cerbosRules,
    skipped,
    roles: (agentId) => ["agent", ...ancestors("Agent", agentId).filter((p) => p.type === "AgentGroup").map((p) => p.id)],
    tool: (serverId, name) => toolFacts.get(`${serverId}#${name}`),
    server: (serverId) => ({ kind: "server", id: serverId, attr: { server: serverFacts(serverId) } }),
    toolsOf: (serverId) => toolsByServer.get(serverId) ?? [],
    servers,
    agents,
    openGrants,
  };
}

/** Writes the policies of a model into `dir` (created). */
export function writePolicies(model: CerbosModel, dir: string): void {
  mkdirSync(dir, { recursive: true });
  for (const [name, doc] of model.files) writeFileSync(path.join(dir, name), JSON.stringify(doc, null, 1));
}

/** How many Cedar policies the directory holds. */
export function countCedarPolicies(dir: string): number {
  return readPolicies(dir).length;
}
