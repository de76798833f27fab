/**
 * A tool's arguments as typed Cedar values: the Cedar type of a tool's arguments derived from its
 * JSON Schema `inputSchema`, that type written as Cedar schema text, and an argument object
 * converted to a Cedar JSON value of that type. Pure; no cedar-wasm here.
 *
 * JSON Schema → Cedar: `string` (and string `enum`/`const`) → `String`, `integer` → `Long`,
 * `number` → `decimal`, `boolean` → `Bool`, `array` with `items` → `Set<…>`, `object` with
 * `properties` → a record (properties in `required` are required attributes, others optional),
 * `[T, "null"]` → `T`, optional. What Cedar cannot express — untyped values, unions, `$ref`,
 * objects without `properties` (maps), tuples, nesting deeper than {@link MAX_TYPE_DEPTH} — is
 * left out of the type, and said so: policy cannot read it, `policy validate` lists it.
 */
import { PdpError } from "../errors.js";
import type { JsonValue } from "./json-value.js";

/** The Cedar type of an argument. */
export type ArgType =
  | { readonly kind: "String" | "Long" | "decimal" | "Bool" }
  | { readonly kind: "Set"; readonly element: ArgType }
  | { readonly kind: "Record"; readonly attributes: ReadonlyMap<string, ArgAttribute> };

/** One attribute of a record type. */
export interface ArgAttribute {
  readonly type: ArgType;
  readonly required: boolean;
}

/** A record type (the type of a tool's whole argument object). */
export type RecordType = Extract<ArgType, { kind: "Record" }>;

/** What {@link deriveArgType} found. */
export interface DerivedArguments {
  readonly type: RecordType;
  /** One line per part left out: `<argument path>: <why>`. */
  readonly leftOut: readonly string[];
}

/** Deepest record/set nesting that gets a Cedar type (deeper parts are left out). */
export const MAX_TYPE_DEPTH = 8;

/** Largest absolute value of a Cedar `decimal` (its range is that of a 64-bit integer / 10^4). */
const DECIMAL_MAX = 922337203685477;

// Names Cedar's JSON value format reads as escapes; an attribute so named would be misread.
const RESERVED = new Set(["__entity", "__extn", "__expr"]);

type Schema = { readonly [key: string]: unknown };

function isObject(v: unknown): v is Schema {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/**
 * The Cedar record type of a tool's arguments, from its `inputSchema` (which must be an object
 * schema; `properties` may be absent: no arguments).
 */
export function deriveArgType(inputSchema: unknown): DerivedArguments {
  const leftOut: string[] = [];
  const derive = (s: unknown, at: string, depth: number): { type: ArgType; nullable: boolean } | undefined => {
    if (!isObject(s)) return void leftOut.push(`${at}: its schema is not an object`);
    if (depth > MAX_TYPE_DEPTH) return void leftOut.push(`${at}: nested deeper than ${MAX_TYPE_DEPTH} levels`);
    let type = s["type"];
    let nullable = false;
    if (Array.isArray(type)) {
      const nonNull = type.filter((t) => t !== "null");
      nullable = nonNull.length < type.length;
      if (nonNull.length !== 1) return void leftOut.push(`${at}: a union of types (${type.join(", ")}) has no Cedar type`);
      type = nonNull[0];
    }
    if (type === undefined) {
      const literals = Array.isArray(s["enum"]) ? s["enum"] : "const" in s ? [s["const"]] : undefined;
      if (literals && literals.length > 0 && literals.every((v) => typeof v === "string")) type = "string";
    }
    switch (type) {
      case "string":
        return { type: { kind: "String" }, nullable };
      case "integer":
        return { type: { kind: "Long" }, nullable };
      case "number":
        return { type: { kind: "decimal" }, nullable };
      case "boolean":
        return { type: { kind: "Bool" }, nullable };
      case "array": {
        const items = s["items"];
        if (!isObject(items)) return void leftOut.push(`${at}: an array without one "items" schema (a tuple or untyped list) has no Cedar type`);
        const element = derive(items, `${at}[]`, depth + 1);
        return element && { type: { kind: "Set", element: element.type }, nullable };
      }
      case "object": {
        const properties = s["properties"];
        if (!isObject(properties)) return void leftOut.push(`${at}: an object without "properties" (a map) has no Cedar record type`);
        return { type: record(properties, s["required"], at, depth), nullable };
      }
      default:
        return void leftOut.push(`${at}: ${type === undefined ? "no \"type\" (or a union, or a $ref)" : `type ${JSON.stringify(type)}`} has no Cedar type`);
    }
  };
  const record = (properties: Schema, required: unknown, at: string, depth: number): RecordType => {
    const needed = new Set(Array.isArray(required) ? required.filter((r): r is string => typeof r === "string") : []);
    const attributes = new Map<string, ArgAttribute>();
    for (const [name, p] of Object.entries(properties)) {
      const where = at ? `${at}.${name}` : name;
      if (RESERVED.has(name)) {
        leftOut.push(`${where}: the name is reserved in Cedar's JSON format`);
        continue;
      }
      const d = derive(p, where, depth + 1);
      if (d) attributes.set(name, { type: d.type, required: needed.has(name) && !d.nullable });
    }
    return { kind: "Record", attributes };
  };
  if (!isObject(inputSchema) || inputSchema["type"] !== "object") {
    throw new PdpError("INVALID_REQUEST", `inputSchema must be a JSON Schema object with "type": "object"`);
  }
  const properties = inputSchema["properties"] ?? {};
  if (!isObject(properties)) throw new PdpError("INVALID_REQUEST", `inputSchema "properties" must be an object`);
  return { type: record(properties, inputSchema["required"], "", 0), leftOut };
}

/** An attribute name in Cedar schema text: bare when it is an identifier, else a string literal. */
export function cedarAttributeName(name: string): string {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) && !CEDAR_RESERVED.has(name) ? name : JSON.stringify(name);
}

const CEDAR_RESERVED = new Set(["true", "false", "if", "then", "else", "in", "is", "like", "has", "__cedar"]);

/** The type in Cedar schema syntax, e.g. `{ path: String, mode?: Long }`. */
export function cedarTypeText(t: ArgType): string {
  switch (t.kind) {
    case "Set":
      return `Set<${cedarTypeText(t.element)}>`;
    case "Record":
      return `{ ${[...t.attributes].map(([name, a]) => `${cedarAttributeName(name)}${a.required ? "" : "?"}: ${cedarTypeText(a.type)}`).join(", ")} }`;
    default:
      return t.kind;
  }
}

/** Two types are the same Cedar type. */
export function sameType(a: ArgType, b: ArgType): boolean {
  return cedarTypeText(a) === cedarTypeText(b);
}

function refuse(message: string): never {
  throw new PdpError("INVALID_ARGUMENTS", message);
}

/** A JSON number as a Cedar `decimal` literal, or a refusal when Cedar cannot hold it exactly. */
function decimal(n: number, at: string): JsonValue {
  const text = Number.isFinite(n) ? String(n) : "";
  const m = /^(-?\d+)(?:\.(\d{1,4}))?$/.exec(text);
  if (!m || Math.abs(n) > DECIMAL_MAX) refuse(`${at} is ${text || String(n)}: Cedar decimals hold at most 4 decimal places and ±${DECIMAL_MAX}`);
  return { __extn: { fn: "decimal", arg: `${m[1]}.${m[2] ?? "0"}` } };
}

/**
 * The Cedar JSON value of `value` as type `t`: records keep only their typed attributes (what was
 * left out of the type never reaches Cedar). Throws PdpError `INVALID_ARGUMENTS` naming the first
 * value that does not fit (`at` is its path, e.g. `arguments.amount`).
 */
export function toCedarValue(t: ArgType, value: JsonValue, at: string): JsonValue {
  switch (t.kind) {
    case "String":
      return typeof value === "string" ? value : refuse(`${at} must be a string`);
    case "Bool":
      return typeof value === "boolean" ? value : refuse(`${at} must be a boolean`);
    case "Long":
      return typeof value === "number" && Number.isSafeInteger(value) ? value : refuse(`${at} must be an integer between ±(2^53 - 1)`);
    case "decimal":
      return typeof value === "number" ? decimal(value, at) : refuse(`${at} must be a number`);
    case "Set":
      return Array.isArray(value) ? value.map((v, i) => toCedarValue(t.element, v, `${at}[${i}]`)) : refuse(`${at} must be an array`);
    case "Record": {
      if (!isObject(value)) refuse(`${at} must be an object`);
      const out: { [key: string]: JsonValue } = {};
      for (const [name, a] of t.attributes) {
        const v = (value as { [key: string]: JsonValue })[name];
        if (v === undefined || v === null) {
          if (a.required) refuse(`${at}.${name} is required`);
          continue;
        }
        out[name] = toCedarValue(a.type, v, `${at}.${name}`);
      }
      return out;
    }
  }
}
