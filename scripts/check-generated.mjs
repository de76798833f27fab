#!/usr/bin/env node
// Fails when src/gen is not exactly what `buf generate` makes from proto/ (stale or hand-edited).
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), "..");
const out = mkdtempSync(path.join(tmpdir(), "mcp-pdp-gen-"));
const bin = path.join(root, "node_modules", ".bin");

function list(dir, base = dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = path.join(dir, name);
    return statSync(p).isDirectory() ? list(p, base) : [path.relative(base, p)];
  });
}

try {
  execFileSync(path.join(bin, "buf"), ["generate", "-o", out], {
    cwd: root,
    stdio: ["ignore", "inherit", "inherit"],
    env: { ...process.env, PATH: `${bin}${path.delimiter}${process.env.PATH}` },
  });
  const fresh = path.join(out, "src", "gen");
  const committed = path.join(root, "src", "gen");
  const a = list(fresh).sort();
  const b = list(committed).sort();
  const problems = [];
  for (const f of new Set([...a, ...b])) {
    if (!a.includes(f)) problems.push(`src/gen/${f} is not generated from proto/ (remove it)`);
    else if (!b.includes(f)) problems.push(`src/gen/${f} is missing (run npm run generate)`);
    else if (readFileSync(path.join(fresh, f), "utf8") !== readFileSync(path.join(committed, f), "utf8"))
      problems.push(`src/gen/${f} is stale (run npm run generate)`);
  }
  if (problems.length) {
    console.error(`generated code is out of date:\n  ${problems.join("\n  ")}`);
    process.exit(1);
  }
  console.log(`generated code is up to date (${a.length} files)`);
} finally {
  rmSync(out, { recursive: true, force: true });
}
