import { createEntityBuilder, loadPolicySet } from "../src/policy/index.js";
import { preparsePolicySet, preparseSchema, statefulIsAuthorized } from "@cedar-policy/cedar-wasm/nodejs";
const loaded = loadPolicySet("cedar");
preparseSchema("s", loaded.schema);
preparsePolicySet("all", { staticPolicies: loaded.policyText });
preparsePolicySet("none", { staticPolicies: "" });
const b = createEntityBuilder(loaded);
const base: any = { agent: { id: "spiffe://dev.mcp-pdp.local/agent/research-assistant", trustDomain: "dev.mcp-pdp.local" }, user: { issuer: "https://dev-issuer.mcp-pdp.invalid", subject: "alice", scopes: [] }, clientId: "dev-client", serverId: "https://docs.example.com/mcp", idp: "https://dev-issuer.mcp-pdp.invalid", action: "call_tool", tool: "search_documents", purpose: "research", arguments: { query: 1, limit: 2 } };
const hist = Array.from({ length: 25 }, (_, i) => (i % 2 ? "search_documents" : "read_document"));
function bench(name: string, input: any, set: string, tweak?: (r: any) => void) {
  const r: any = b.build(input); tweak?.(r);
  const call = { principal: r.principal, action: r.action, resource: r.resource, context: r.context, entities: r.entities, preparsedPolicySetId: set, preparsedSchemaName: "s" };
  for (let i = 0; i < 500; i++) statefulIsAuthorized(call);
  const n = 3000; const t = performance.now();
  for (let i = 0; i < n; i++) statefulIsAuthorized(call);
  console.log(name.padEnd(50), ((performance.now() - t) / n * 1000).toFixed(0), "µs", r.entities.length, "entities");
}
bench("all, no session", base, "all");
bench("all, session 25 tools", { ...base, session: { callCount: 25, tools: hist, labels: ["sensitive"], riskTotal: 37 } }, "all");
bench("none, session 25 tools", { ...base, session: { callCount: 25, tools: hist, labels: ["sensitive"], riskTotal: 37 } }, "none");
bench("none, session 0 tools", { ...base, session: { callCount: 25, tools: [], labels: ["sensitive"], riskTotal: 37 } }, "none");
bench("none, session 25 distinct-deduped (2)", { ...base, session: { callCount: 25, tools: ["search_documents","read_document"], labels: ["sensitive"], riskTotal: 37 } }, "none");
bench("none, no session", base, "none");
bench("none, no session, only principal entity", base, "none", (r) => (r.entities = r.entities.slice(0, 1)));
bench("none, no session, principal no parents", base, "none", (r) => (r.entities = [{ ...r.entities[0], parents: [] }]));
