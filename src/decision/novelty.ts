/**
 * Third-party trust expansion (docs/trust-expansion.md). The relations a session establishes are
 * observed ONCE, when OpenSession has decided to allow it (one round trip, off the Authorize hot
 * path), and the session carries what was new; every call in the session then derives its
 * `context.novelty` from the session it already loads — no extra round trip per decision.
 *
 * Why at OpenSession and not folded into the Authorize state read: the client, user, agent,
 * server and IdP are fixed for the session's life (any change is CONTEXT_CHANGED), so a call can
 * reveal nothing new about (a)–(d) that its session did not; the session's keys share one Cluster
 * slot while the relations cannot (they span sessions), so folding them into the read script
 * would break Cluster deployments; and only an ALLOWed opening marks a relation as seen, so a
 * refused attempt can never "use up" a first sighting.
 */
import type { NoveltyFacts, PolicyEngine, ToolInfo } from "../policy/types.js";
import type { NoveltyKind, NoveltyStore, SessionNovelty, Sighting } from "../session/novelty-types.js";
import { userRef } from "../session/user-ref.js";
import type { DecisionRequest } from "./types.js";

/** Most scopes of one token observed (each is one relation): a token with more is cut, sorted. */
export const MAX_OBSERVED_SCOPES = 100;

/** What one opening observed. */
export interface Observed {
  readonly novelty: SessionNovelty;
  /** Relations the store evicted for room during this observation. */
  readonly evicted: number;
}

/**
 * Observes (checks and marks, in one store call) the relations a session opened by this request
 * establishes: (a)–(d) from its parties, (e) one per scope of the user token, (f) one per brokered
 * path among the granted tools.
 */
export async function observeNovelty(store: NoveltyStore, request: DecisionRequest, policy: PolicyEngine, grantedTools: readonly string[]): Promise<Observed> {
  const { user, agent } = request.parties;
  const u = userRef(user.issuer, user.subject);
  const scopes = [...new Set(user.scopes)].sort().slice(0, MAX_OBSERVED_SCOPES);
  const paths = [...new Set(grantedTools.map((t) => policy.tool(request.serverId, t)?.brokerPath).filter((p): p is string => p !== undefined))].sort();
  const fixed: Sighting[] = [
    { kind: "client_for_user", key: [request.clientId, u] },
    { kind: "agent_at_server", key: [agent.agentId, request.serverId] },
    { kind: "client_at_server", key: [request.clientId, request.serverId] },
    { kind: "idp_for_server", key: [user.issuer, request.serverId] },
  ];
  const sightings: Sighting[] = [
    ...fixed,
    ...scopes.map((s): Sighting => ({ kind: "new_scopes", key: [u, request.clientId, s] })),
    ...paths.map((p): Sighting => ({ kind: "broker_path", key: [agent.agentId, p] })),
  ];
  const { fresh, evicted } = await store.observe(sightings);
  const newScopes = scopes.filter((_, i) => fresh[fixed.length + i]);
  const newPaths = paths.filter((_, i) => fresh[fixed.length + scopes.length + i]);
  const firstSeen: NoveltyKind[] = [
    ...fixed.filter((_, i) => fresh[i]).map((s) => s.kind),
    ...(newScopes.length > 0 ? (["new_scopes"] as const) : []),
    ...(newPaths.length > 0 ? (["broker_path"] as const) : []),
  ];
  return { novelty: { firstSeen, newScopes, newPaths, openScopes: scopes }, evicted };
}

/**
 * The novelty facts of a call in a session: what the session's opening found new, plus any scope
 * of this call's token that the opening token did not carry (a wider token mid-session), plus
 * whether this tool's brokered path was new. Undefined when nothing is new — the common case
 * costs policy evaluation nothing (`context.novelty` is present only when something is first seen).
 */
export function noveltyFacts(n: SessionNovelty, request: DecisionRequest, tool: ToolInfo | undefined): NoveltyFacts | undefined {
  const scopes = request.parties.user.scopes;
  if (n.firstSeen.length === 0 && scopes.every((s) => n.openScopes.includes(s))) return undefined;
  const open = new Set(n.openScopes);
  const fresh = new Set(n.newScopes);
  const has = (k: NoveltyKind) => n.firstSeen.includes(k);
  return {
    clientForUser: has("client_for_user"),
    agentAtServer: has("agent_at_server"),
    clientAtServer: has("client_at_server"),
    idpForServer: has("idp_for_server"),
    newScopes: [...new Set(scopes)].filter((s) => fresh.has(s) || !open.has(s)).sort(),
    brokerPath: tool?.brokerPath !== undefined && n.newPaths.includes(tool.brokerPath),
  };
}

/** What a decision's record says was first seen. */
export interface FirstSeen {
  readonly kinds: readonly NoveltyKind[];
  readonly scopes: readonly string[];
  readonly paths: readonly string[];
}

/** The first-seen part of a call's record, from its facts (undefined when nothing was new). */
export function firstSeenOfFacts(f: NoveltyFacts, tool: ToolInfo | undefined): FirstSeen | undefined {
  const kinds: NoveltyKind[] = [];
  if (f.clientForUser) kinds.push("client_for_user");
  if (f.agentAtServer) kinds.push("agent_at_server");
  if (f.clientAtServer) kinds.push("client_at_server");
  if (f.idpForServer) kinds.push("idp_for_server");
  if (f.newScopes.length > 0) kinds.push("new_scopes");
  if (f.brokerPath) kinds.push("broker_path");
  if (kinds.length === 0) return undefined;
  return { kinds, scopes: f.newScopes, paths: f.brokerPath && tool?.brokerPath ? [tool.brokerPath] : [] };
}

/** The first-seen part of an opening's record (undefined when nothing was new). */
export function firstSeenOfSession(n: SessionNovelty): FirstSeen | undefined {
  return n.firstSeen.length === 0 ? undefined : { kinds: n.firstSeen, scopes: n.newScopes, paths: n.newPaths };
}
