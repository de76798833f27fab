/**
 * Reads the composed config schema as a tree of settings: which keys exist, their defaults, their
 * environment variables, which hold file paths. The loader uses it to map `MCP_PDP_*` variables,
 * convert their text and resolve relative paths; the README test uses it to list every key.
 *
 * Each module writes its settings with zod and marks them with `.meta()`:
 * `env` (the `MCP_PDP_*` variable that sets it), `relativePath` (a file or directory name resolved
 * against the config file's directory), `description` (what it means).
 */
import type { z } from "zod";

declare module "zod" {
  interface GlobalMeta {
    /** The environment variable that sets this key. */
    env?: `MCP_PDP_${string}`;
    /** A file or directory name: relative names are resolved against the config file's directory. */
    relativePath?: boolean;
  }
}

/** A path into the config: object keys, array indexes (in values) or `"[]"` (any element, in the schema). */
export type KeyPath = readonly (string | number)[];

/** What the tree needs of a zod schema (`_zod.def` is zod's public definition object). */
type Node = z.ZodType;

interface Def {
  readonly type: string;
  readonly innerType?: Node;
  readonly in?: Node;
  readonly element?: Node;
  readonly shape?: Record<string, Node>;
  readonly options?: readonly Node[];
  readonly values?: readonly unknown[];
  readonly entries?: Record<string, unknown>;
  readonly defaultValue?: unknown;
}

const def = (node: Node): Def => node._zod.def as unknown as Def;

/** Wrappers that change neither the key structure nor the kind of value. */
const WRAPPERS = new Set(["optional", "default", "prefault", "nullable", "readonly", "catch", "nonoptional"]);

/** The schema under optional/default/… wrappers and before any transform. */
export function unwrap(node: Node): Node {
  for (;;) {
    const d = def(node);
    if (WRAPPERS.has(d.type) && d.innerType) node = d.innerType;
    else if (d.type === "pipe" && d.in) node = d.in;
    else return node;
  }
}

/** The metadata of a setting, from its outermost wrapper inwards (outer wins). */
export function metaOf(node: Node): z.GlobalMeta {
  const layers: z.GlobalMeta[] = [];
  for (;;) {
    const m = node.meta();
    if (m) layers.push(m);
    const d = def(node);
    const inner = WRAPPERS.has(d.type) ? d.innerType : d.type === "pipe" ? d.in : undefined;
    if (!inner) break;
    node = inner;
  }
  return Object.assign({}, ...layers.reverse()) as z.GlobalMeta;
}

/** The default written in the schema (`.default(v)`), if any; computed defaults are not static. */
export function staticDefault(node: Node): { readonly value: unknown } | undefined {
  for (;;) {
    const d = def(node);
    if (d.type === "default") return { value: d.defaultValue };
    const inner = WRAPPERS.has(d.type) ? d.innerType : d.type === "pipe" ? d.in : undefined;
    if (!inner) return undefined;
    node = inner;
  }
}

/** The object shape of a node, or undefined when it is not an object. */
export function shapeOf(node: Node): Record<string, Node> | undefined {
  const d = def(unwrap(node));
  return d.type === "object" ? d.shape : undefined;
}

/** The element schema of an array node, or undefined when it is not an array. */
export function elementOf(node: Node): Node | undefined {
  const d = def(unwrap(node));
  return d.type === "array" ? d.element : undefined;
}

/** The schema at `path` (array indexes and `"[]"` both step into the element), or undefined. */
export function nodeAt(root: Node, path: KeyPath): Node | undefined {
  let node: Node | undefined = root;
  for (const part of path) {
    if (!node) return undefined;
    const element = elementOf(node);
    node = element && (typeof part === "number" || part === "[]") ? element : shapeOf(node)?.[String(part)];
  }
  return node;
}

/** `identity.userIssuers[0].jwksUri`. */
export function formatPath(path: KeyPath): string {
  let out = "";
  for (const part of path) out += typeof part === "number" || part === "[]" ? `[${part === "[]" ? "" : part}]` : out ? `.${part}` : part;
  return out;
}

/** One key of the schema. */
export interface Setting {
  /** Its path, with `"[]"` for the elements of a list. */
  readonly path: KeyPath;
  readonly schema: Node;
  readonly meta: z.GlobalMeta;
  /** `object`: holds keys; `list`: a list of objects with keys; `value`: anything else. */
  readonly kind: "object" | "list" | "value";
}

/** Every key of the schema, depth first, objects and lists of objects before their keys. */
export function listSettings(root: Node, prefix: KeyPath = []): Setting[] {
  const out: Setting[] = [];
  const shape = shapeOf(root);
  if (!shape) return out;
  for (const [key, schema] of Object.entries(shape)) {
    const path = [...prefix, key];
    const element = elementOf(schema);
    const kind = shapeOf(schema) ? "object" : element && shapeOf(element) ? "list" : "value";
    out.push({ path, schema, meta: metaOf(schema), kind });
    if (kind === "object") out.push(...listSettings(schema, path));
    if (kind === "list") out.push(...listSettings(element!, [...path, "[]"]));
  }
  return out;
}

/**
 * Turns an environment variable's text into the kind of value the setting takes: numbers,
 * `true`/`1`/`false`/`0`, comma-separated lists. Text that does not convert is returned unchanged,
 * so that validation reports it with the setting's expectation.
 */
export function fromEnvText(node: Node, text: string): unknown {
  const d = def(unwrap(node));
  switch (d.type) {
    case "number":
      return text.trim() !== "" && Number.isFinite(Number(text)) ? Number(text) : text;
    case "boolean":
      return text === "true" || text === "1" ? true : text === "false" || text === "0" ? false : text;
    case "array":
      return text
        .split(",")
        .map((s) => s.trim())
        .filter(Boolean)
        .map((s) => fromEnvText(d.element!, s));
    case "union": {
      const options = d.options ?? [];
      if (options.some((o) => accepts(o, text))) return text;
      for (const o of options) {
        const v = fromEnvText(o, text);
        if (v !== text) return v;
      }
      return text;
    }
    default:
      return text;
  }
}

function accepts(node: Node, value: unknown): boolean {
  return node.safeParse(value).success;
}

/** What a setting expects, in words: `an integer from 0 to 65535`, `one of "a", "b"`. */
export function expectation(node: Node): string {
  const inner = unwrap(node);
  const d = def(inner);
  const n = inner as unknown as { minValue?: number | null; maxValue?: number | null; isInt?: boolean; minLength?: number | null };
  switch (d.type) {
    case "number": {
      const what = n.isInt ? "an integer" : "a number";
      const bound = (v: number | null | undefined) => (v != null && Math.abs(v) < Number.MAX_SAFE_INTEGER ? v : undefined);
      const lo = bound(n.minValue);
      const hi = bound(n.maxValue);
      return lo !== undefined && hi !== undefined ? `${what} from ${lo} to ${hi}` : lo !== undefined ? `${what} ≥ ${lo}` : hi !== undefined ? `${what} ≤ ${hi}` : what;
    }
    case "boolean":
      return "true or false";
    case "string":
      return n.minLength ? "a non-empty string" : "a string";
    case "enum":
      return `one of ${Object.values(d.entries ?? {}).map((v) => JSON.stringify(v)).join(", ")}`;
    case "literal":
      return (d.values ?? []).map((v) => JSON.stringify(v)).join(" or ");
    case "union":
      return (d.options ?? []).map(expectation).join(" or ");
    case "array": {
      const element = def(unwrap(d.element!));
      if (element.type === "string") return "a list of strings";
      if (element.type === "object") return "a list of objects";
      return `a list, each ${expectation(d.element!)}`;
    }
    case "object":
      return "an object";
    default:
      return metaOf(node).description ?? "a valid value";
  }
}
