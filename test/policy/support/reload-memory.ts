/**
 * Child process for the reload memory test (run with --expose-gc): reloads a policy manager N
 * times, alternating between two versions, and prints memory after the first reload and after
 * the last (each after a full GC), and the mean reload time, as one JSON line.
 * Usage: node --expose-gc --import tsx reload-memory.ts DIR N [EXTRA_POLICIES]
 */
import { appendFileSync, cpSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { createPolicyManager } from "../../../src/policy/index.js";
import type { DecisionInput } from "../../../src/policy/index.js";

const [source, countText, extraText] = process.argv.slice(2);
/** Extra policies to add, so each version is big enough that leaking one per reload shows. */
const extra = Number(extraText ?? "0");
const reloads = Number(countText ?? "200");
const gc = (globalThis as { gc?: () => void }).gc;
if (!source || !gc) throw new Error("usage: node --expose-gc --import tsx reload-memory.ts DIR N");

const dir = mkdtempSync(path.join(os.tmpdir(), "mcp-pdp-memory-"));
cpSync(source, dir, { recursive: true });
const flip = path.join(dir, "policies/zz-flip.cedar");
const padding: string[] = [];
for (let i = 0; i < extra; i++) {
  padding.push(
    `@id("padding-${i}")\n@reason("padding policy ${i} for the memory test")\n` +
      `forbid (principal, action == Action::"call_tool", resource)\n` +
      `when { context has session && context.session.call_count > ${1000 + i} && resource.risk > ${i % 10} && context.purpose == "padding-${i}" };\n`,
  );
}
if (extra > 0) writeFileSync(path.join(dir, "policies/zz-padding.cedar"), padding.join("\n"));
const silent = { info() {}, warn() {}, error() {} } as never;
const manager = createPolicyManager({ dir, logger: silent });
const input: DecisionInput = {
  agent: { id: "spiffe://dev.mcp-pdp.local/agent/research-assistant", trustDomain: "dev.mcp-pdp.local" },
  user: { issuer: "https://dev-issuer.mcp-pdp.invalid", subject: "alice", scopes: [] },
  clientId: "dev-client",
  serverId: "https://docs.example.com/mcp",
  idp: "https://dev-issuer.mcp-pdp.invalid",
  action: "call_tool",
  tool: "search_documents",
  purpose: "research",
};

const measure = () => {
  for (let i = 0; i < 3; i++) gc();
  const m = process.memoryUsage();
  return { rss: m.rss, heapUsed: m.heapUsed, external: m.external, arrayBuffers: m.arrayBuffers };
};
let total = 0;
let first: ReturnType<typeof measure> | undefined;
const checkpoints: { reloads: number; rss: number }[] = [];
for (let i = 1; i <= reloads; i++) {
  // Alternate between two different versions, each a real change (a new preparse every time).
  if (i % 2 === 1) writeFileSync(flip, `@id("flip")\n@reason("r")\nforbid (principal, action == Action::"call_tool", resource == Tool::"https://docs.example.com/mcp#search_documents");\n`);
  else rmSync(flip);
  appendFileSync(path.join(dir, "schema.cedarschema"), ""); // no-op, keeps the loop honest about I/O
  const r = manager.reload("memory-test");
  if (!r.ok || !r.changed) throw new Error(`reload ${i} did not swap: ${JSON.stringify(r)}`);
  total += r.durationMs;
  for (let k = 0; k < 20; k++) manager.current().evaluate(input);
  if (i === 1) first = measure();
  if (i % 50 === 0) checkpoints.push({ reloads: i, rss: measure().rss });
}
const last = measure();
rmSync(dir, { recursive: true, force: true });
process.stdout.write(`${JSON.stringify({ reloads, meanReloadMs: total / reloads, first, last, checkpoints })}\n`);
