/**
 * Generates realistic extra policies and the entities they name into a copy of a Cedar directory,
 * for the partition property test and the benchmark. Deterministic for a given count.
 *
 * What is added, per generated tool set k (cycling through templates so every scope form appears):
 * a server `https://svc-<k mod S>.example.com/mcp`, two tools in `ToolSet::"gen-ts-<k>"`, an agent
 * group `gen-agents-<k mod G>` with one agent, and policies: an allowlist permit (group → set),
 * purpose binding, a session risk budget, a blocked-argument rule on one tool, a scope-gated grant
 * to the shipped research agents, an `is Tool in` rule over two actions, a session opening permit
 * for the group on its server; and every 50th policy a rule with no resource scope (a quarantined
 * agent, a blocked argument on every request) — the kind no partition can avoid.
 */
import { writeFileSync } from "node:fs";
import path from "node:path";

/** What {@link addGeneratedPolicies} added. */
export interface GeneratedSet {
  /** Policies added. */
  readonly policies: number;
  /** Tool sets added (`gen-ts-<k>`), each with tools `gen_tool_<k>_0` and `gen_tool_<k>_1`. */
  readonly toolSets: number;
  /** Servers added. */
  readonly servers: readonly string[];
  /** Agents added (SPIFFE IDs), one per agent group. */
  readonly agents: readonly string[];
  /** Tools added, as `{ serverId, name }`. */
  readonly tools: readonly { readonly serverId: string; readonly name: string }[];
}

const PURPOSES = ["research", "notify", "hr-case", "ops", "billing", "support"];
const DEV_ISSUER = "https://dev-issuer.mcp-pdp.invalid";
const TRUST_DOMAIN = "dev.mcp-pdp.local";

/** Adds `count` generated policies (and their entities) to the Cedar directory `dir`, in place. */
export function addGeneratedPolicies(dir: string, count: number): GeneratedSet {
  const servers: string[] = [];
  const agents: string[] = [];
  const tools: { serverId: string; name: string }[] = [];
  const policies: string[] = [];
  const entities: unknown[] = [];
  const serverCount = Math.max(1, Math.min(20, Math.ceil(count / 100)));
  const groupCount = Math.max(1, Math.min(50, Math.ceil(count / 40)));
  for (let s = 0; s < serverCount; s++) {
    const id = `https://svc-${s}.example.com/mcp`;
    servers.push(id);
    entities.push({
      uid: { type: "Server", id },
      attrs: { vendor: `vendor-${s % 3}`, broker: s % 7 === 6, trusted_idps: [{ __entity: { type: "IdentityProvider", id: DEV_ISSUER } }], max_session_ttl_seconds: 600 },
      parents: [],
    });
  }
  for (let g = 0; g < groupCount; g++) {
    const agent = `spiffe://${TRUST_DOMAIN}/agent/gen-${g}`;
    agents.push(agent);
    entities.push({ uid: { type: "AgentGroup", id: `gen-agents-${g}` }, attrs: {}, parents: [] });
    entities.push({
      uid: { type: "Agent", id: agent },
      attrs: { trust_domain: TRUST_DOMAIN },
      parents: [
        { type: "AgentGroup", id: "registered-workloads" },
        { type: "AgentGroup", id: `gen-agents-${g}` },
      ],
    });
  }
  const add = (id: string, reason: string, body: string) => policies.push(`@id("${id}")\n@reason("${reason}")\n${body};\n`);
  let k = 0;
  while (policies.length < count) {
    const server = servers[k % serverCount] as string;
    const group = `gen-agents-${k % groupCount}`;
    const set = `gen-ts-${k}`;
    entities.push({ uid: { type: "ToolSet", id: set }, attrs: {}, parents: [] });
    for (let j = 0; j < 2; j++) {
      const name = `gen_tool_${k}_${j}`;
      tools.push({ serverId: server, name });
      entities.push({
        uid: { type: "Tool", id: `${server}#${name}` },
        attrs: {
          name,
          server: { __entity: { type: "Server", id: server } },
          risk: (k + j) % 10,
          labels: (k + j) % 5 === 0 ? ["sensitive"] : (k + j) % 7 === 0 ? ["egress"] : [],
          impact: j === 0 ? "read" : k % 4 === 0 ? "write" : "external",
        },
        parents: [{ type: "ToolSet", id: set }],
      });
    }
    const purpose = PURPOSES[k % PURPOSES.length] as string;
    const templates: (() => void)[] = [
      () => add(`gen-allow-${k}`, `group ${group} may call tool set ${set}`, `permit (principal in AgentGroup::"${group}", action == Action::"call_tool", resource in ToolSet::"${set}")`),
      () =>
        add(
          `gen-purpose-${k}`,
          `tool set ${set} serves the purposes ${purpose} and research only`,
          `forbid (principal, action == Action::"call_tool", resource in ToolSet::"${set}")\nunless { ["${purpose}", "research"].contains(context.purpose) }`,
        ),
      () =>
        add(
          `gen-risk-${k}`,
          `a session may not take more risk on tool set ${set}`,
          `forbid (principal, action == Action::"call_tool", resource in ToolSet::"${set}")\nwhen { context has session && context.session.risk_total + resource.risk > ${30 + (k % 20)} }`,
        ),
      () =>
        add(
          `gen-force-${k}`,
          `gen_tool_${k}_1 may not be forced`,
          `forbid (principal, action == Action::"call_tool", resource == Tool::"${server}#gen_tool_${k}_1")\nwhen { context.argument_names.contains("force") }`,
        ),
      () =>
        add(
          `gen-scoped-${k}`,
          `research agents may call ${set} with the scope gen.${k}`,
          `permit (principal in AgentGroup::"research-agents", action == Action::"call_tool", resource in ToolSet::"${set}")\nwhen { context.scopes.contains("gen.${k}") }`,
        ),
      () =>
        add(
          `gen-is-${k}`,
          `sensitive tools of ${set} need a session`,
          `forbid (principal, action in [Action::"call_tool", Action::"get_prompt"], resource is Tool in ToolSet::"${set}")\nwhen { resource.labels.contains("sensitive") && !(context has session) }`,
        ),
      () =>
        add(
          `gen-open-${k}`,
          `group ${group} may open sessions on ${server} for ${purpose}`,
          `permit (principal in AgentGroup::"${group}", action == Action::"open_session", resource == Server::"${server}")\nwhen { context.purpose == "${purpose}" }`,
        ),
    ];
    for (const t of templates) {
      if (policies.length >= count) break;
      t();
      if (policies.length % 50 === 0 && policies.length < count) {
        const n = policies.length;
        if (n % 100 === 0) {
          add(`gen-quarantine-${n}`, `agent gen-quarantined-${n} is quarantined`, `forbid (principal == Agent::"spiffe://${TRUST_DOMAIN}/agent/gen-quarantined-${n}", action, resource)`);
        } else {
          add(`gen-blocked-arg-${n}`, `the argument blocked_${n} is never allowed`, `forbid (principal, action in Action::"mcp_request", resource)\nwhen { context.argument_names.contains("blocked_${n}") }`);
        }
      }
    }
    k++;
  }
  writeFileSync(path.join(dir, "policies", "zz-generated.cedar"), `// Generated: ${policies.length} policies.\n\n${policies.join("\n")}`);
  writeFileSync(path.join(dir, "entities", "zz-generated.json"), JSON.stringify(entities, null, 1));
  return { policies: policies.length, toolSets: k, servers, agents, tools };
}
