/**
 * MCP tool definitions as data: their RFC 8785 digest, and a compiled checker that turns a call's
 * arguments into the typed Cedar value policy reads (`context.args.<tool>`) — or refuses them
 * with INVALID_ARGUMENTS naming the first violation. The same code serves definitions declared in
 * `cedar/definitions/*.json` and definitions PEPs report at run time.
 *
 * Checking, in order: the arguments conform to the `inputSchema` (JSON Schema 2020-12 or draft-07,
 * checked by Ajv: types, required, enum, additional properties where forbidden, …); each
 * resource-naming argument is in canonical form (a path without `.`/`..`/empty segments,
 * backslashes or percent-encoded dots and separators; a URI that reads back as itself); every
 * typed value fits Cedar (integers within ±2^53, decimals of at most 4 places).
 */
import { createHash } from "node:crypto";
import path from "node:path";
import canonicalize from "canonicalize";
import { Ajv2020 } from "ajv/dist/2020.js";
import type { ValidateFunction, ErrorObject } from "ajv/dist/2020.js";
import draft07 from "ajv/dist/refs/json-schema-draft-07.json" with { type: "json" };
import { PdpError } from "../errors.js";
import { deriveArgType, toCedarValue, type RecordType } from "./tool-arguments.js";
import type { JsonValue } from "./json-value.js";

/** A JSON object. */
export type JsonObject = { readonly [key: string]: JsonValue };

/** MCP tool annotations (hints; trusted only from servers the Cedar data trusts). */
export interface ToolAnnotations {
  readonly title?: string;
  readonly readOnlyHint?: boolean;
  readonly destructiveHint?: boolean;
  readonly idempotentHint?: boolean;
  readonly openWorldHint?: boolean;
}

/** An MCP tool definition, as `tools/list` gives it (the fields the PDP keeps and digests). */
export interface ToolDefinition {
  readonly name: string;
  readonly title?: string;
  readonly description?: string;
  readonly inputSchema: JsonObject;
  readonly outputSchema?: JsonObject;
  readonly annotations?: ToolAnnotations;
}

/** How a resource-naming argument is checked: an absolute POSIX path, or an absolute URI. */
export type ResourceArgumentKind = "path" | "uri";

/** The parts of a definition that a change can be in (TOOL_DEFINITION_CHANGED says which). */
export const DEFINITION_PARTS = ["title", "description", "inputSchema", "outputSchema", "annotations"] as const;

/** A part of a definition. */
export type DefinitionPart = (typeof DEFINITION_PARTS)[number];

/** A definition's pin: its digest, and a short digest per part (to say what changed). */
export interface DefinitionPin {
  /** SHA-256 hex of the RFC 8785 canonical JSON of the definition. */
  readonly digest: string;
  /** First 16 hex of the SHA-256 of each part's canonical JSON (`-` when absent). */
  readonly parts: Readonly<Record<DefinitionPart, string>>;
}

/** A tool with a known definition, ready to check calls. */
export interface KnownTool {
  readonly serverId: string;
  readonly name: string;
  readonly definition: ToolDefinition;
  readonly pin: DefinitionPin;
  /** The Cedar type of its arguments (`context.args.<name>`). */
  readonly argType: RecordType;
  /** Parts of the input schema that Cedar cannot express (left out of the type). */
  readonly leftOut: readonly string[];
  readonly resourceArguments: ReadonlyMap<string, ResourceArgumentKind>;
  /**
   * Top-level arguments whose values decision records may keep (declared `recordedArguments`, e.g.
   * an amount); every other argument is recorded only through the arguments' digest.
   */
  readonly recordedArguments: readonly string[];
  /**
   * Checks a call's arguments and returns their typed Cedar value. Throws PdpError
   * `INVALID_ARGUMENTS` naming the first violation.
   */
  check(args: JsonObject): JsonValue;
}

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/** The pin of a definition (RFC 8785: key order and whitespace never change it). */
export function pinOf(def: ToolDefinition): DefinitionPin {
  const parts = {} as Record<DefinitionPart, string>;
  for (const p of DEFINITION_PARTS) parts[p] = def[p] === undefined ? "-" : sha256(canonicalize(def[p]) as string).slice(0, 16);
  return { digest: sha256(canonicalize(def) as string), parts };
}

/** The parts in which two pins differ (empty when the digests are equal). */
export function changedParts(pinned: DefinitionPin, current: DefinitionPin): DefinitionPart[] {
  if (pinned.digest === current.digest) return [];
  const changed = DEFINITION_PARTS.filter((p) => pinned.parts[p] !== current.parts[p]);
  return changed.length > 0 ? changed : ["description"];
}

/** A JSON Schema compiler. One per policy version or definition store (Ajv caches what it compiled). */
export function createSchemaCompiler(): (schema: JsonObject) => ValidateFunction {
  const ajv = new Ajv2020({ strict: false, allErrors: false, validateFormats: false, addUsedSchema: false });
  ajv.addMetaSchema(draft07);
  return (schema) => ajv.compile(schema as object);
}

const ENCODED = /%(?:2e|2f|5c|00)/i;

/** Refuses a resource-naming value that is not in canonical form. */
function checkResource(kind: ResourceArgumentKind, value: JsonValue, at: string): void {
  if (typeof value !== "string") throw new PdpError("INVALID_ARGUMENTS", `${at} names a resource and must be a string`);
  if (ENCODED.test(value) || value.includes("\\")) throw new PdpError("INVALID_ARGUMENTS", `${at} must not contain backslashes or percent-encoded dots, separators or NUL`);
  if (kind === "path") {
    if (!value.startsWith("/")) throw new PdpError("INVALID_ARGUMENTS", `${at} must be an absolute path`);
    if (path.posix.normalize(value) !== value) throw new PdpError("INVALID_ARGUMENTS", `${at} must be a canonical path (no ".", ".." or empty segments): it reads as ${path.posix.normalize(value)}`);
    return;
  }
  let href: string;
  try {
    href = new URL(value).href;
  } catch {
    throw new PdpError("INVALID_ARGUMENTS", `${at} must be an absolute URI`);
  }
  if (href !== value) throw new PdpError("INVALID_ARGUMENTS", `${at} must be a canonical URI: it reads as ${href}`);
}

function describeViolation(e: ErrorObject): string {
  const at = `arguments${e.instancePath.replace(/\/([^/]*)/g, (_, k: string) => (/^\d+$/.test(k) ? `[${k}]` : `.${k.replace(/~1/g, "/").replace(/~0/g, "~")}`))}`;
  const params = e.params as { additionalProperty?: string; missingProperty?: string; allowedValues?: unknown[] };
  if (params.additionalProperty !== undefined) return `${at} has a property the tool does not take: ${params.additionalProperty}`;
  if (params.missingProperty !== undefined) return `${at}.${params.missingProperty} is required`;
  if (params.allowedValues !== undefined) return `${at} must be one of ${JSON.stringify(params.allowedValues)}`;
  return `${at} ${e.message ?? "does not conform to the tool's inputSchema"}`;
}

/**
 * Compiles a definition for checking calls. Throws PdpError `INVALID_REQUEST` when the definition
 * is unusable (no name, an `inputSchema` that is not a valid JSON Schema object schema, a resource
 * argument the schema does not declare).
 */
export function compileTool(
  serverId: string,
  def: ToolDefinition,
  compile: (schema: JsonObject) => ValidateFunction,
  resourceArguments: ReadonlyMap<string, ResourceArgumentKind> = new Map(),
  recordedArguments: readonly string[] = [],
): KnownTool {
  if (typeof def.name !== "string" || def.name === "") throw new PdpError("INVALID_REQUEST", "a tool definition needs a name");
  const { type, leftOut } = deriveArgType(def.inputSchema);
  let validate: ValidateFunction;
  try {
    validate = compile(def.inputSchema);
  } catch (err) {
    throw new PdpError("INVALID_REQUEST", `tool ${def.name}: inputSchema is not a valid JSON Schema: ${(err as Error).message}`, { cause: err });
  }
  for (const [name, kind] of resourceArguments) {
    const a = type.attributes.get(name);
    if (!a || a.type.kind !== "String") throw new PdpError("INVALID_REQUEST", `tool ${def.name}: resource argument ${name} must be a string property of its inputSchema`);
    if (kind !== "path" && kind !== "uri") throw new PdpError("INVALID_REQUEST", `tool ${def.name}: resource argument ${name} must be "path" or "uri"`);
  }
  for (const name of recordedArguments) {
    const kind = type.attributes.get(name)?.type.kind;
    if (kind !== "String" && kind !== "Long" && kind !== "decimal" && kind !== "Bool") {
      throw new PdpError("INVALID_REQUEST", `tool ${def.name}: recorded argument ${name} must be a string, number or boolean property of its inputSchema`);
    }
  }
  return Object.freeze({
    serverId,
    name: def.name,
    definition: def,
    pin: pinOf(def),
    argType: type,
    leftOut,
    resourceArguments,
    recordedArguments: Object.freeze([...recordedArguments]),
    check(args: JsonObject): JsonValue {
      if (!validate(args)) throw new PdpError("INVALID_ARGUMENTS", describeViolation((validate.errors ?? [])[0] as ErrorObject));
      for (const [name, kind] of resourceArguments) {
        const v = args[name];
        if (v !== undefined && v !== null) checkResource(kind, v, `arguments.${name}`);
      }
      return toCedarValue(type, args as JsonValue, "arguments");
    },
  });
}
