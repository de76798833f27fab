/**
 * Summarises V8 CPU profiles (`.cpuprofile`, e.g. from `npm run bench -- --profile DIR`): self time
 * by function and by file/package, and inclusive time of the functions named on the command line.
 *   node --import tsx bench/profile-summary.ts FILE.cpuprofile [--top 40] [--inclusive src/audit/,ioredis,…] [--skip-seconds N]
 * `--inclusive`: for each pattern, the share of busy (non-idle) samples with a frame whose URL or
 * function name contains it anywhere on the stack (inclusive time; categories may overlap).
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: "string", default: "40" }, inclusive: { type: "string" }, "skip-seconds": { type: "string", default: "0" } } });
for (const file of positionals) {
  const p = JSON.parse(readFileSync(file, "utf8")) as { nodes: Node[]; samples: number[]; timeDeltas: number[] };
  // Leave out the first --skip-seconds of samples.
  const skipUs = Number(values["skip-seconds"]) * 1e6;
  let first = 0;
  for (let at = 0; first < p.timeDeltas.length && at + (p.timeDeltas[first] ?? 0) < skipUs; first++) at += p.timeDeltas[first] ?? 0;
  p.samples = p.samples.slice(first);
  p.timeDeltas = p.timeDeltas.slice(first);
  const byId = new Map(p.nodes.map((n) => [n.id, n]));
  const selfUs = new Map<number, number>();
  p.samples.forEach((id, i) => selfUs.set(id, (selfUs.get(id) ?? 0) + (p.timeDeltas[i] ?? 0)));
  const total = [...selfUs.values()].reduce((a, b) => a + b, 0);
  const where = (n: Node) => {
    const u = n.callFrame.url;
    if (u.startsWith("wasm://")) return "cedar-wasm (wasm)";
    const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(u);
    if (m) return m[1]!;
    if (u.includes("/src/")) return u.slice(u.indexOf("/src/") + 1);
    if (u.startsWith("node:")) return u;
    return u || `(${n.callFrame.functionName || "native"})`;
  };
  const fn = new Map<string, number>();
  const pkg = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const n = byId.get(id)!;
    const w = where(n);
    const name = n.callFrame.url.startsWith("wasm://") ? "(wasm)" : `${n.callFrame.functionName || "(anonymous)"} ${w}:${n.callFrame.lineNumber + 1}`;
    fn.set(name, (fn.get(name) ?? 0) + us);
    pkg.set(w, (pkg.get(w) ?? 0) + us);
  }
  const top = Number(values.top);
  const show = (title: string, m: Map<string, number>) => {
    console.log(`\n${title} (${file}, ${(total / 1e6).toFixed(1)} s sampled):`);
    [...m].sort((a, b) => b[1] - a[1]).slice(0, top).forEach(([k, us]) => console.log(`${((100 * us) / total).toFixed(1).padStart(5)}%  ${k}`));
  };
  show("self time by file / package", pkg);
  if (values.inclusive) {
    const parent = new Map<number, number>();
    for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
    const patterns = values.inclusive.split(",");
    const hits = new Map<string, number>(patterns.map((x) => [x, 0]));
    let busy = 0;
    p.samples.forEach((id, i) => {
      const dt = p.timeDeltas[i] ?? 0;
      const leaf = byId.get(id)!;
      if (leaf.callFrame.functionName === "(idle)") return;
      busy += dt;
      const frames: string[] = [];
      for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
        const f = byId.get(at)!.callFrame;
        frames.push(`${f.url} ${f.functionName}`);
      }
      for (const pat of patterns) if (frames.some((f) => f.includes(pat))) hits.set(pat, (hits.get(pat) ?? 0) + dt);
    });
    console.log(`\ninclusive share of busy time (${(busy / 1e6).toFixed(1)} s busy):`);
    for (const [pat, us] of hits) console.log(`${((100 * us) / busy).toFixed(1).padStart(5)}%  ${pat}`);
  }
  show("self time by function", fn);
}
