/**
 * Cerbos as a {@link Target}: what a PEP in front of Cerbos does for the same task. Cerbos keeps no
 * session, so the PEP keeps the session's facts (call count, tools, labels, risk) and sends them
 * with each check; it looks up the agent's groups (roles) and the tool's facts from the same
 * entities mcp-pdp loads. Opening a session is one CheckResources: open_session on the server plus
 * call_tool on each tool the session asks for (mcp-pdp's grant, made in the same call).
 */
import type { JsonObject } from "@bufbuild/protobuf";
import type { Answer, LaneTokens, Target } from "../lib/driver.js";
import { SERVER, TOOLS } from "../lib/driver.js";
import type { CerbosModel } from "./cedar-to-cerbos.js";
import type { CerbosClient } from "./cerbos.js";

/** The session facts a PEP in front of Cerbos keeps (mcp-pdp keeps them in its store). */
export interface SessionFacts {
  call_count: number;
  tools: string[];
  labels: string[];
  risk_total: number;
}

/** One logical question, in the terms both PDPs are asked. */
export interface Question {
  readonly agentId: string;
  readonly userToken: string;
  /** The user's verified issuer and scopes (sent as attributes when Cerbos does not verify the JWT). */
  readonly idp: string;
  readonly scopes: readonly string[];
  readonly serverId: string;
  readonly purpose: string;
  readonly action: "call_tool" | "open_session";
  readonly tool?: string;
  readonly arguments?: JsonObject;
  readonly session?: SessionFacts;
  readonly requestedTtlSeconds?: number;
  /** Further tools to check in the same request (open_session's grant). */
  readonly grant?: readonly string[];
}

/** The CheckResources request for a question; `undefined` resource for a tool the entities lack. */
export function checkRequest(model: CerbosModel, jwt: boolean, q: Question): { request: Record<string, unknown>; main: { kind: string; id: string } } {
  const attr: Record<string, unknown> = { purpose: q.purpose, argument_names: Object.keys(q.arguments ?? {}) };
  if (q.session) attr.session = q.session;
  if (q.requestedTtlSeconds !== undefined) attr.requested_ttl_seconds = q.requestedTtlSeconds;
  if (!jwt) Object.assign(attr, { idp: q.idp, scopes: [...q.scopes] });
  const toolResource = (name: string) => {
    const t = model.tool(q.serverId, name);
    if (!t) throw new Error(`tool ${q.serverId}#${name} is not in the entities`);
    return { resource: t, actions: ["call_tool"] };
  };
  const main = q.action === "open_session" ? { resource: model.server(q.serverId), actions: ["open_session"] } : toolResource(q.tool!);
  const resources = [main, ...(q.grant ?? []).map(toolResource)];
  return {
    request: {
      principal: { id: q.agentId, roles: model.roles(q.agentId), attr },
      resources,
      ...(jwt && { auxData: { jwt: { token: q.userToken } } }),
    },
    main: { kind: main.resource.kind, id: main.resource.id },
  };
}

/** Asks Cerbos one question; true when the main action is allowed. */
export async function ask(client: CerbosClient, model: CerbosModel, jwt: boolean, q: Question): Promise<{ allow: boolean; granted: string[] }> {
  const { request, main } = checkRequest(model, jwt, q);
  const r = await client.checkResources(request);
  const allow = r.isAllowed({ resource: main, action: q.action }) === true;
  const granted = (q.grant ?? []).filter((t) => r.isAllowed({ resource: { kind: model.tool(q.serverId, t)!.kind, id: `${q.serverId}#${t}` }, action: "call_tool" }) === true);
  return { allow, granted };
}

/** Updates the PEP-kept session facts after an allowed call (as mcp-pdp's appendCall does). */
export function recordCall(model: CerbosModel, serverId: string, s: SessionFacts, tool: string): void {
  const t = model.tool(serverId, tool);
  s.call_count++;
  if (!s.tools.includes(tool)) s.tools.push(tool);
  for (const l of (t?.attr.labels as string[] | undefined) ?? []) if (!s.labels.includes(l)) s.labels.push(l);
  s.risk_total += (t?.attr.risk as number | undefined) ?? 0;
}

/** The bench's task (research assistant, docs server, purpose research) against Cerbos. */
export function cerbosTarget(clients: readonly CerbosClient[], model: CerbosModel, jwt: boolean, tokens: readonly LaneTokens[]): Target {
  const agentId = "spiffe://dev.mcp-pdp.local/agent/research-assistant";
  const base = (i: number) => ({
    agentId,
    userToken: tokens[i % tokens.length]!.userToken,
    idp: "https://dev-issuer.mcp-pdp.invalid",
    scopes: [] as string[],
    serverId: SERVER,
    purpose: "research",
  });
  // The request of a lane's calls is built once per call from these (as a PEP would).
  return {
    async open(i): Promise<Answer & { session?: unknown }> {
      const client = clients[i % clients.length]!;
      const r = await ask(client, model, jwt, { ...base(i), action: "open_session", requestedTtlSeconds: 120, grant: [...TOOLS] });
      if (!r.allow) return { allow: false, reason: "DENY" };
      const session: SessionFacts & { granted: string[] } = { call_count: 0, tools: [], labels: [], risk_total: 0, granted: r.granted };
      return { allow: true, session };
    },
    async call(i, session, tool, args): Promise<Answer> {
      const s = session as SessionFacts & { granted: string[] };
      if (!s.granted.includes(tool)) return { allow: false, reason: "TOOL_NOT_GRANTED" };
      const client = clients[i % clients.length]!;
      const facts: SessionFacts = { call_count: s.call_count, tools: s.tools, labels: s.labels, risk_total: s.risk_total };
      const r = await ask(client, model, jwt, { ...base(i), action: "call_tool", tool, arguments: args, session: facts });
      if (!r.allow) return { allow: false, reason: "DENY" };
      recordCall(model, SERVER, s, tool);
      return { allow: true };
    },
  };
}
