// Every module that loads cedar-wasm imports ./v8-guard.js first (ESM evaluates imports in order),
// so the V8 flag is set before the WASM loads in any entry point.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const src = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../src");

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return e.name === "gen" ? [] : sources(p);
    return e.name.endsWith(".ts") ? [p] : [];
  });
}

test("every runtime import of cedar-wasm comes after the v8 guard", () => {
  let checked = 0;
  for (const file of sources(src)) {
    const text = readFileSync(file, "utf8");
    // Runtime imports only: `import type` is erased and loads nothing.
    const imports = [...text.matchAll(/^import\s+(?!type\b)[^;]*?["']([^"']+)["'];?$/gms)].map((m) => m[1] ?? "");
    const cedar = imports.findIndex((s) => s.startsWith("@cedar-policy/cedar-wasm"));
    if (cedar < 0) continue;
    checked++;
    const rel = path.relative(src, file);
    assert.ok(/(^|\/)v8-guard\.js$/.test(imports[0] ?? ""), `${rel}: the first import must be the v8 guard, not ${imports[0]}`);
  }
  assert.ok(checked >= 2, "expected the loader and the engine to import cedar-wasm");
});
