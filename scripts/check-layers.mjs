#!/usr/bin/env node
// The layering check CI runs: dependency-cruiser's rules (.dependency-cruiser.cjs), then no cycle
// between the folders of src/ (a folder may not reach itself through another). Exit 1 on a violation.
import { execFileSync } from "node:child_process";

let graph;
try {
  const out = execFileSync("npx", ["--no-install", "depcruise", "src", "--config", ".dependency-cruiser.cjs", "--output-type", "json"], {
    encoding: "utf8",
    maxBuffer: 64 * 1024 * 1024,
  });
  graph = JSON.parse(out);
} catch (err) {
  // depcruise exits non-zero on a rule violation and still prints its JSON.
  if (!err.stdout) throw err;
  graph = JSON.parse(err.stdout);
}

let failed = false;
for (const v of graph.summary.violations) {
  failed = true;
  console.error(`layers: ${v.rule.name}: ${v.from} → ${v.to}`);
}

const folder = (p) => /^src\/([^/]+)\//.exec(p)?.[1];
const edges = new Map();
const example = new Map();
for (const m of graph.modules) {
  const from = folder(m.source);
  if (!from || from === "gen") continue;
  for (const d of m.dependencies) {
    const to = folder(d.resolved);
    if (!to || to === from || to === "gen") continue;
    if (!edges.has(from)) edges.set(from, new Set());
    edges.get(from).add(to);
    if (!example.has(`${from}>${to}`)) example.set(`${from}>${to}`, `${m.source} → ${d.resolved}`);
  }
}
const cycles = new Set();
const walk = (start, at, path) => {
  for (const next of edges.get(at) ?? []) {
    if (next === start) {
      const ring = [...path, start];
      const k = ring.slice(0, -1).sort().join(",");
      if (!cycles.has(k)) {
        cycles.add(k);
        failed = true;
        console.error(`layers: folder cycle ${ring.join(" → ")}`);
        for (let i = 0; i < ring.length - 1; i++) console.error(`  ${example.get(`${ring[i]}>${ring[i + 1]}`)}`);
      }
    } else if (!path.includes(next)) walk(start, next, [...path, next]);
  }
};
for (const f of edges.keys()) walk(f, f, [f]);

if (failed) process.exit(1);
console.log(`layers: ok (${graph.summary.totalCruised} modules, ${edges.size} folders, no folder cycle)`);
