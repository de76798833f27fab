/**
 * Loads the configuration: merges the JSON file, the `MCP_PDP_*` environment and explicit
 * overrides (later wins; objects merge key by key, lists and values are replaced), then parses
 * the result with the composed schema, which supplies every default. The keys, their defaults
 * and their environment variables are written in the modules' schemas, not here.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { closestMatch } from "leven";
import type { z } from "zod";
import { PdpError } from "../errors.js";
import { pdpConfigSchema, type PdpConfig } from "./pdp-config.js";
import { elementOf, expectation, formatPath, fromEnvText, listSettings, metaOf, nodeAt, shapeOf, type KeyPath } from "./schema-tree.js";

/** The package root (where the bundled `cedar/` lives), from `src/config` or `dist/config`. */
export const packageRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

/**
 * `MCP_PDP_*` variables that are not config keys; any other `MCP_PDP_*` variable that no key
 * claims is an error (a misspelt setting must not pass unnoticed).
 */
export const NON_CONFIG_ENV: ReadonlySet<string> = new Set([
  "MCP_PDP_CONFIG", // the config file (read here)
  "MCP_PDP_WORKER", // set by src/cluster.ts in forked workers
  "MCP_PDP_ADDRESS", // the CLI's PDP address
  "MCP_PDP_HEALTH_ADDRESS", // examples/docker/grpc-health-check.mjs, run inside the PDP's container
  "MCP_PDP_HEALTH_CA_FILE",
  "MCP_PDP_HEALTH_SERVICE",
]);

/** Every config key that an environment variable sets: variable → key path (from the schemas' `env`). */
export const CONFIG_ENV: ReadonlyMap<string, KeyPath> = (() => {
  const map = new Map<string, KeyPath>();
  for (const { path: keyPath, meta } of listSettings(pdpConfigSchema)) {
    if (!meta.env) continue;
    if (map.has(meta.env) || NON_CONFIG_ENV.has(meta.env) || keyPath.includes("[]"))
      throw new Error(`config schema: ${meta.env} cannot set ${formatPath(keyPath)} (taken, or inside a list)`);
    map.set(meta.env, keyPath);
  }
  return map;
})();

/** Options for {@link loadConfig}. */
export interface LoadConfigOptions {
  /** A JSON config file; default `MCP_PDP_CONFIG` if set, else none (embedded defaults). */
  readonly file?: string;
  /** Environment to read overrides from. Default `process.env`. */
  readonly env?: NodeJS.ProcessEnv;
  /** Values that win over file and environment (used by tests and the CLI). */
  readonly overrides?: Partial<Record<keyof PdpConfig, unknown>>;
  /** How errors name where the overrides came from. Default `overrides`. */
  readonly overridesSource?: string;
}

type Raw = Record<string, unknown>;

/** The merged input, and where each key of it came from (`in FILE`, `from MCP_PDP_PORT`, …). */
interface Merged {
  readonly values: Raw;
  readonly sources: Map<string, string>;
}

const isObject = (v: unknown): v is Raw => Object.prototype.toString.call(v) === "[object Object]";

function mergeInto(merged: Merged, target: Raw, value: Raw, source: string, prefix: KeyPath): void {
  for (const [key, v] of Object.entries(value)) {
    if (v === undefined) continue;
    const keyPath = [...prefix, key];
    const name = formatPath(keyPath);
    if (!isObject(v) || !isObject(target[key])) {
      for (const k of merged.sources.keys()) if (k.startsWith(`${name}.`) || k.startsWith(`${name}[`)) merged.sources.delete(k);
      target[key] = isObject(v) ? {} : structuredClone(v);
    }
    merged.sources.set(name, source);
    if (isObject(v)) mergeInto(merged, target[key] as Raw, v, source, keyPath);
  }
}

function sourceOf(merged: Merged, keyPath: KeyPath): string | undefined {
  for (let i = keyPath.length; i > 0; i--) {
    const source = merged.sources.get(formatPath(keyPath.slice(0, i)));
    if (source) return source;
  }
  return undefined;
}

function readFile(file: string): Raw {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new PdpError("CONFIG_INVALID", `config: cannot read ${file}: ${(err as Error).message}`);
  }
  if (!isObject(parsed)) throw new PdpError("CONFIG_INVALID", `config: ${file} must hold a JSON object`);
  return parsed;
}

/** A suggestion for a misspelt name among `candidates`, as ` (did you mean "x"?)`, or "". */
function suggest(name: string, candidates: readonly string[], show: (c: string) => string): string {
  const lower = candidates.map((c) => c.toLowerCase());
  const match = closestMatch(name.toLowerCase(), lower, { maxDistance: Math.max(2, Math.floor(name.length / 3)) });
  return match === undefined ? "" : ` (did you mean ${show(candidates[lower.indexOf(match)]!)}?)`;
}

/** Reads the `MCP_PDP_*` variables into `merged`; returns the names no key claims. */
function mergeEnv(merged: Merged, env: NodeJS.ProcessEnv): string[] {
  const problems: string[] = [];
  for (const [name, text] of Object.entries(env)) {
    if (!name.startsWith("MCP_PDP_") || NON_CONFIG_ENV.has(name)) continue;
    const keyPath = CONFIG_ENV.get(name);
    if (!keyPath) {
      const known = [...CONFIG_ENV.keys(), ...NON_CONFIG_ENV];
      problems.push(`unknown environment variable ${name}${suggest(name, known, (c) => c)}`);
      continue;
    }
    if (text === undefined || text === "") continue; // set but empty: not set
    let value: unknown = fromEnvText(nodeAt(pdpConfigSchema, keyPath)!, text);
    for (const key of [...keyPath].reverse()) value = { [key]: value };
    mergeInto(merged, merged.values, value as Raw, `from ${name}`, []);
  }
  return problems;
}

/** Resolves the relative file names of keys marked `relativePath` against `baseDir`. */
function resolvePaths(schema: z.ZodType, value: unknown, baseDir: string): unknown {
  if (metaOf(schema).relativePath && typeof value === "string" && value !== "") return path.resolve(baseDir, value);
  const shape = shapeOf(schema);
  if (shape && isObject(value)) {
    for (const [key, child] of Object.entries(shape)) if (key in value) value[key] = resolvePaths(child, value[key], baseDir);
    return value;
  }
  const element = elementOf(schema);
  if (element && Array.isArray(value)) return value.map((v) => resolvePaths(element, v, baseDir));
  return value;
}

/** Marks messages that zod wrote, so that they can be replaced by one naming what the key expects. */
const GENERIC = "\u0000generic";

const showValue = (v: unknown): string => {
  const text = JSON.stringify(v) ?? String(v);
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
};

/** One line per problem, each naming the key, what it expects and where the value came from. */
function describe(issue: z.core.$ZodIssue, merged: Merged): string[] {
  const source = sourceOf(merged, issue.path as KeyPath);
  if (issue.code === "unrecognized_keys") {
    const known = Object.keys(shapeOf(nodeAt(pdpConfigSchema, issue.path as KeyPath)!) ?? {});
    return issue.keys.map((key) => {
      const keyPath = [...(issue.path as KeyPath), key];
      const from = sourceOf(merged, keyPath);
      return `unknown key "${formatPath(keyPath)}"${from ? ` ${from}` : ""}${suggest(key, known, (c) => `"${formatPath([...(issue.path as KeyPath), c])}"`)}`;
    });
  }
  const key = formatPath(issue.path as KeyPath);
  const from = source ? ` (${source})` : "";
  if (issue.message !== GENERIC) return [key ? `${key}: ${issue.message}${from}` : issue.message];
  const node = nodeAt(pdpConfigSchema, issue.path as KeyPath);
  const expected = node ? expectation(node) : "a valid value";
  if (issue.input === undefined) return [`${key}: missing, expected ${expected}${from}`];
  return [`${key}: expected ${expected}, got ${showValue(issue.input)}${from}`];
}

/**
 * Reads the configuration: embedded defaults, then the JSON file, then `MCP_PDP_*` environment
 * variables, then explicit overrides. Relative file names are resolved against the config file's
 * directory (the working directory without a file). Validates everything; throws PdpError
 * CONFIG_INVALID with one `config: …` line per problem.
 */
export function loadConfig(options: LoadConfigOptions = {}): PdpConfig {
  const env = options.env ?? process.env;
  const file = options.file ?? (env.MCP_PDP_CONFIG || undefined);
  const merged: Merged = { values: {}, sources: new Map() };
  if (file) mergeInto(merged, merged.values, readFile(file), `in ${path.resolve(file)}`, []);
  const problems = mergeEnv(merged, env);
  if (options.overrides) mergeInto(merged, merged.values, options.overrides, `from ${options.overridesSource ?? "overrides"}`, []);
  const input = resolvePaths(pdpConfigSchema, merged.values, file ? path.dirname(path.resolve(file)) : process.cwd());

  const result = pdpConfigSchema.safeParse(input, { reportInput: true, error: () => GENERIC });
  if (!result.success) problems.push(...result.error.issues.flatMap((issue) => describe(issue, merged)));
  if (problems.length > 0 || !result.success) throw new PdpError("CONFIG_INVALID", problems.map((p) => `config: ${p}`).join("\n"));
  return result.data;
}
