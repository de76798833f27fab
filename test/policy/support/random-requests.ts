/**
 * Random decision inputs for property tests of the engine (partitioning, evaluation beside another
 * version): agents, tools, servers, purposes, scopes, arguments, session facts and every action,
 * known names and unknown ones. Deterministic for a seed, so a failure can be replayed.
 */
import type { DecisionInput, LoadedPolicySet, PolicyAction } from "../../../src/policy/index.js";

/** A small deterministic PRNG (mulberry32), so a failure can be replayed from its seed. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** `n` random decision inputs over the entities of `loaded` (every action, known and unknown names), from `seed`. */
export function randomRequests(loaded: LoadedPolicySet, n: number, seed: number): DecisionInput[] {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)] as T;
  const some = <T>(xs: readonly T[], p = 0.3): T[] => xs.filter(() => r() < p);
  const ofType = (type: string) => loaded.entities.map((e) => ("__entity" in e.uid ? e.uid.__entity : e.uid)).filter((u) => u.type === type).map((u) => u.id);
  const agents = [...ofType("Agent"), "spiffe://dev.mcp-pdp.local/agent/stranger", "spiffe://dev.mcp-pdp.local/agent/gen-quarantined-100", "spiffe://evil.example/agent/research-assistant"];
  const tools = ofType("Tool").map((id) => ({ server: id.slice(0, id.lastIndexOf("#")), name: id.slice(id.lastIndexOf("#") + 1) }));
  const servers = [...ofType("Server"), "https://unknown.example/mcp"];
  const names = [...new Set(tools.map((t) => t.name)), "drop_database", "summarize"];
  const resources = [...ofType("Resource"), "file:///etc/passwd", "https://docs.example.com/doc/1"];
  const purposes = ["research", "notify", "hr-case", "release", "ops", "billing", "support", "marketing", ""];
  const idps = ["https://dev-issuer.mcp-pdp.invalid", "https://login.corp.example", "https://other-idp.example"];
  const scopes = ["gen.0", "gen.3", "gen.7", "gen.12", "docs.read", "deploy"];
  const argNames = ["query", "force", "blocked_50", "blocked_150", "path"];
  const labels = ["sensitive", "egress", "pii"];
  const actions: PolicyAction[] = ["call_tool", "call_tool", "call_tool", "call_tool", "open_session", "read_resource", "get_prompt", "approve"];
  const out: DecisionInput[] = [];
  for (let i = 0; i < n; i++) {
    const action = pick(actions);
    const known = r() < 0.75;
    const tool = pick(tools);
    const serverId = known && tool ? tool.server : pick(servers);
    const args = Object.fromEntries(some(argNames).map((k) => [k, 1]));
    const history = some(names, 0.02);
    out.push({
      agent: { id: pick(agents), trustDomain: "dev.mcp-pdp.local" },
      user: { issuer: pick(idps), subject: pick(["alice", "bob"]), scopes: some(scopes) },
      clientId: pick(["dev-client", "other-client"]),
      serverId,
      idp: pick(idps),
      action,
      ...(action === "read_resource" ? { resourceUri: pick(resources) } : { tool: known && tool ? tool.name : pick(names) }),
      purpose: pick(purposes),
      arguments: args,
      ...(r() < 0.7 && {
        session: { callCount: Math.floor(r() * 60), tools: history, labels: some(labels), riskTotal: Math.floor(r() * 60) },
      }),
      ...(action === "open_session" && r() < 0.8 && { requestedTtlSeconds: Math.floor(r() * 1200) - 100 }),
      ...(r() < 0.2 && { approved: r() < 0.5 }),
      ...(action === "approve" && { requestingUser: { issuer: pick(idps), subject: pick(["alice", "bob"]) } }),
    });
  }
  return out;
}

