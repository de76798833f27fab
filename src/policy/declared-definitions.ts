/**
 * Tool definitions declared in `cedar/definitions/*.json` (for servers that never report their
 * own, and to give policy typed arguments): each file names one server, its tools (MCP tool
 * definitions as `tools/list` gives them) and which arguments name resources. From them the
 * loader derives the Cedar type `ToolArgs` (`context.args`): one optional attribute per tool name,
 * typed from its `inputSchema`.
 *
 * ```json
 * { "server": "https://files.example.com/mcp",
 *   "resourceArguments": { "read_file": { "path": "path" } },
 *   "recordedArguments": { "send_payment": ["amount"] },
 *   "tools": [ { "name": "read_file", "description": "…", "inputSchema": { "type": "object", … } } ] }
 * ```
 */
import { PdpError } from "../errors.js";
import { cedarAttributeName, cedarTypeText, sameType } from "./tool-arguments.js";
import { compileTool, createSchemaCompiler, type KnownTool, type ResourceArgumentKind, type ToolDefinition } from "./tool-definitions.js";

/** The name of the generated Cedar type of `context.args` (the schema file must not declare it). */
export const TOOL_ARGS_TYPE = "ToolArgs";

/** One definitions file's text. */
export interface DefinitionsFile {
  readonly rel: string;
  readonly text: string;
}

/** What the declared definitions give a policy version. */
export interface DeclaredDefinitions {
  /** Compiled tools by Tool entity id (`<server>#<name>`). */
  readonly tools: ReadonlyMap<string, KnownTool>;
  /** Cedar schema text declaring `type ToolArgs = { … };`, appended to the schema. */
  readonly schemaText: string;
  /** What Cedar cannot express, one line per part left out. */
  readonly warnings: readonly string[];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Line (1-based) of the first `"name": "<name>"` in a text, for messages. */
function lineOfName(text: string, name: string): number | undefined {
  const i = text.indexOf(`"name": ${JSON.stringify(name)}`);
  return i < 0 ? undefined : text.slice(0, i).split("\n").length;
}

/**
 * Parses and compiles the declared definitions. `where(rel, line)` formats a location.
 *
 * @throws PdpError `POLICY_INVALID` naming the file (and line) of the first unusable definition.
 */
export function loadDeclaredDefinitions(files: readonly DefinitionsFile[], where: (rel: string, line?: number) => string): DeclaredDefinitions {
  const compile = createSchemaCompiler();
  const tools = new Map<string, KnownTool>();
  const byName = new Map<string, { tool: KnownTool; at: string }>();
  const warnings: string[] = [];
  const problems: string[] = [];
  for (const { rel, text } of files) {
    let doc: unknown;
    try {
      doc = JSON.parse(text);
    } catch (err) {
      problems.push(`${where(rel)} invalid JSON: ${(err as Error).message}`);
      continue;
    }
    if (!isObject(doc) || typeof doc["server"] !== "string" || !Array.isArray(doc["tools"])) {
      problems.push(`${where(rel, 1)} expected { "server": "<server URI>", "tools": [ <MCP tool definition>, … ], "resourceArguments"?: { "<tool>": { "<argument>": "path" | "uri" } }, "recordedArguments"?: { "<tool>": ["<argument>", …] } }`);
      continue;
    }
    const server = doc["server"];
    const resources = isObject(doc["resourceArguments"]) ? doc["resourceArguments"] : {};
    const recorded = isObject(doc["recordedArguments"]) ? doc["recordedArguments"] : {};
    for (const raw of doc["tools"] as unknown[]) {
      const name = isObject(raw) && typeof raw["name"] === "string" ? raw["name"] : "";
      const at = where(rel, lineOfName(text, name));
      try {
        if (!isObject(raw)) throw new PdpError("INVALID_REQUEST", "a tool definition must be an object");
        const declared = resources[name];
        const kinds = new Map(Object.entries(isObject(declared) ? declared : {}) as [string, ResourceArgumentKind][]);
        const keep = recorded[name];
        if (keep !== undefined && !(Array.isArray(keep) && keep.every((k) => typeof k === "string"))) throw new PdpError("INVALID_REQUEST", `recordedArguments.${name} must be a list of argument names`);
        const tool = compileTool(server, raw as unknown as ToolDefinition, compile, kinds, (keep as string[] | undefined) ?? []);
        const id = `${server}#${tool.name}`;
        if (tools.has(id)) throw new PdpError("INVALID_REQUEST", `tool ${tool.name} is declared twice for ${server}`);
        const same = byName.get(tool.name);
        if (same && !sameType(same.tool.argType, tool.argType)) {
          throw new PdpError("INVALID_REQUEST", `tool ${tool.name}: its arguments' Cedar type differs from the tool of the same name at ${same.at} (context.args.${tool.name} has one type)`);
        }
        tools.set(id, tool);
        if (!same) byName.set(tool.name, { tool, at });
        for (const l of tool.leftOut) warnings.push(`${at} tool ${tool.name}: ${l} — left out of context.args.${tool.name}`);
      } catch (err) {
        problems.push(`${at} ${(err as Error).message}`);
      }
    }
  }
  if (problems.length > 0) throw new PdpError("POLICY_INVALID", problems.join("\n"));
  const attributes = [...byName.values()].map(({ tool }) => `  ${cedarAttributeName(tool.name)}?: ${cedarTypeText(tool.argType)},`);
  const schemaText = `\n// Generated from definitions/*.json: the typed arguments of each tool with a known definition.\ntype ${TOOL_ARGS_TYPE} = {\n${attributes.join("\n")}\n};\n`;
  return { tools, schemaText, warnings };
}
