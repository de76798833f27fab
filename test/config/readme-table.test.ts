/**
 * The README's configuration tables list exactly the keys of the config schema, with their
 * environment variables and defaults.
 *
 * How a row is read: the key cell holds one key in code font; `*` in it stands for any part of one
 * key name (`identity.*Issuers[].issuer` is the `issuer` of every issuer list). A row whose key is
 * an object (like `store.redis.sentinel`) documents everything under it, and its meaning must name
 * each key under it. The env cell lists the `MCP_PDP_*` variables in code font. The default cell
 * starts with the default in code font (`50051`, `[]`, `mcp-pdp`) when the schema writes one, and
 * with words when the default is computed or there is none.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { packageRoot } from "../../src/config/load-config.js";
import { pdpConfigSchema } from "../../src/config/pdp-config.js";
import { formatPath, listSettings, staticDefault, type Setting } from "../../src/config/schema-tree.js";

interface Row {
  readonly key: string;
  readonly pattern: RegExp;
  readonly env: readonly string[];
  readonly defaultCell: string;
  readonly meaning: string;
}

/** The rows of every `| key | env | default | meaning |` table in the README's "Configuration" section. */
function readmeRows(): Row[] {
  const readme = readFileSync(path.join(packageRoot, "README.md"), "utf8");
  const section = /^## Configuration\n([\s\S]*?)(?=^## )/m.exec(readme)?.[1];
  assert.ok(section, 'README has a "## Configuration" section');
  const rows: Row[] = [];
  let inTable = false;
  for (const line of section.split("\n")) {
    const cells = line.startsWith("|") ? line.slice(1, line.endsWith("|") ? -1 : undefined).split(/(?<!\\)\|/).map((c) => c.trim()) : undefined;
    if (!cells) {
      inTable = false;
      continue;
    }
    if (cells.join("|") === "key|env|default|meaning") {
      inTable = true;
      continue;
    }
    if (!inTable || /^-+$/.test(cells[0] ?? "")) continue;
    assert.equal(cells.length, 4, `a configuration row has 4 cells: ${line}`);
    const [keyCell, envCell, defaultCell, meaning] = cells as [string, string, string, string];
    const key = /^`([^`]+)`$/.exec(keyCell)?.[1];
    assert.ok(key, `the key cell holds one key in code font: ${line}`);
    const pattern = new RegExp(`^${key.replace(/[.[\]]/g, (c) => `\\${c}`).replace(/\*/g, "[A-Za-z0-9]*")}$`);
    rows.push({ key, pattern, env: [...envCell.matchAll(/`(MCP_PDP_[A-Z0-9_]+)`/g)].map((m) => m[1]!), defaultCell, meaning });
  }
  return rows;
}

/** Every key of the schema, by its printed path (`identity.userIssuers[].issuer`). */
const settings = new Map(listSettings(pdpConfigSchema).map((s) => [formatPath(s.path), s] as const));

/** The row that documents `key`: the one naming it, else the one naming the nearest object above it. */
function rowFor(key: string, rows: readonly Row[]): Row | undefined {
  const setting = settings.get(key)!;
  for (let n = setting.path.length; n > 0; n--) {
    const prefix = formatPath(setting.path.slice(0, n));
    const found = rows.filter((r) => r.pattern.test(prefix));
    assert.ok(found.length <= 1, `${prefix} is documented by several rows: ${found.map((r) => r.key).join(", ")}`);
    if (found[0]) return found[0];
  }
  return undefined;
}

const sameDefault = (text: string, value: unknown) => (typeof value === "string" ? text === value : (() => {
  try {
    return JSON.stringify(JSON.parse(text)) === JSON.stringify(value);
  } catch {
    return false;
  }
})());

test("the README's configuration tables list every key of the schema, and only those", () => {
  const rows = readmeRows();
  assert.ok(rows.length > 40, `found ${rows.length} rows`);
  const covered = new Map<Row, Setting[]>(rows.map((r) => [r, []]));
  const missing: string[] = [];
  for (const [key, setting] of settings) {
    if (setting.kind === "object") continue; // its keys are listed, or a row names it as a whole
    const row = rowFor(key, rows);
    if (row) covered.get(row)!.push(setting);
    else missing.push(key);
  }
  assert.deepEqual(missing, [], "keys missing from the README's configuration tables");
  const stray = rows.filter((r) => ![...settings.keys()].some((k) => r.pattern.test(k))).map((r) => r.key);
  assert.deepEqual(stray, [], "README rows naming no key of the schema");
  for (const [row, under] of covered) {
    const named = under.filter((s) => row.pattern.test(formatPath(s.path)));
    for (const s of under.filter((x) => !named.includes(x))) {
      const name = String(s.path.at(-1) === "[]" ? s.path.at(-2) : s.path.at(-1));
      assert.match(row.meaning, new RegExp(`\\b${name}\\b`), `the row of ${row.key} names ${formatPath(s.path)}`);
    }
  }
});

test("the README gives each key's environment variable and default as the schema does", () => {
  const rows = readmeRows();
  for (const row of rows) {
    const exact = [...settings].filter(([k]) => row.pattern.test(k)).map(([, s]) => s);
    const below = [...settings].filter(([k]) => !row.pattern.test(k) && rowFor(k, rows) === row).map(([, s]) => s);
    const env = [...exact, ...below].map((s) => s.meta.env).filter((e): e is `MCP_PDP_${string}` => e !== undefined);
    assert.deepEqual([...row.env].sort(), env.sort(), `environment variables of ${row.key}`);

    const defaults = exact.map((s) => staticDefault(s.schema));
    const first = defaults[0];
    for (const d of defaults) assert.deepEqual(d, first, `the keys of ${row.key} share one default`);
    const literal = /^`([^`]*)`/.exec(row.defaultCell)?.[1];
    if (first) {
      assert.ok(literal !== undefined, `${row.key}: the default cell starts with ${JSON.stringify(first.value)} in code font, not "${row.defaultCell}"`);
      assert.ok(sameDefault(literal, first.value), `${row.key}: README default \`${literal}\`, schema default ${JSON.stringify(first.value)}`);
    } else {
      assert.ok(row.defaultCell !== "" && literal === undefined, `${row.key}: no default in the schema, so the cell says in words what applies ("none", "required", …), not "${row.defaultCell}"`);
    }
  }
});
