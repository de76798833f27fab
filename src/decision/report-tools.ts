/**
 * ReportTools: an enforcement point reports the tool definitions its server exposes — once per
 * server start or `tools/list` change. The PDP keeps them per server with their RFC 8785 digest
 * (the pin a session's grant records), replacing the server's previous list. A definition that
 * cannot be used (no valid name, an inputSchema that is not valid JSON Schema, too large) is
 * refused and not stored: a tool pinned in a session and no longer known is then
 * TOOL_DEFINITION_CHANGED, so a bad report can never lift a pin.
 */
import canonicalize from "canonicalize";
import { PdpError } from "../errors.js";
import { compileTool, createSchemaCompiler, pinOf, type ToolDefinition } from "../policy/tool-definitions.js";
import type { StoredDefinition, ToolDefinitionStore } from "../session/tool-definition-types.js";
import { checkCallerIsServer, requireCaller } from "./check-caller.js";
import { checkName, requireField } from "./check-question.js";
import type { Caller } from "./types.js";

/** Most tools in one report. */
export const MAX_REPORTED_TOOLS = 1000;
/** Largest definition, as canonical JSON, in bytes. */
export const MAX_DEFINITION_BYTES = 64 * 1024;

/** What a server reports. */
export interface ToolReport {
  readonly serverId: string;
  /** MCP tool definitions as `tools/list` gives them. */
  readonly tools: readonly ToolDefinition[];
}

/** What the PDP did with a report. */
export interface ReportedTools {
  /** Definitions stored. */
  readonly accepted: number;
  /** Names whose definition is new or differs from the one stored before. */
  readonly changed: readonly string[];
  /** Names stored before and absent now. */
  readonly removed: readonly string[];
  /** Definitions refused, with why (not stored). */
  readonly refused: readonly { readonly name: string; readonly reason: string }[];
}

/** Stores a server's tool definitions. Throws PdpError (CALLER_UNAUTHORIZED, INVALID_REQUEST, STORE_UNAVAILABLE). */
export type ReportTools = (report: ToolReport, caller: Caller) => Promise<ReportedTools>;

/** Builds ReportTools: only a server's own enforcement point may report its tools. */
export function createReportTools(deps: { readonly definitions: Pick<ToolDefinitionStore, "report">; readonly now?: () => number }): ReportTools {
  const now = deps.now ?? Date.now;
  return async (report, caller) => {
    const c = requireCaller(caller);
    requireField(report.serverId, "server_id", 2048);
    checkCallerIsServer(c, report.serverId);
    if (report.tools.length > MAX_REPORTED_TOOLS) throw new PdpError("INVALID_REQUEST", `at most ${MAX_REPORTED_TOOLS} tools per report`);
    const compile = createSchemaCompiler();
    const stored: StoredDefinition[] = [];
    const refused: { name: string; reason: string }[] = [];
    const names = new Set<string>();
    const reportedAt = now();
    for (const def of report.tools) {
      const name = typeof def?.name === "string" ? def.name : "";
      try {
        checkName(name, "tools[].name");
        if (names.has(name)) throw new PdpError("INVALID_REQUEST", `tool ${name} is reported twice`);
        names.add(name);
        const json = canonicalize(def);
        if (json === undefined || Buffer.byteLength(json) > MAX_DEFINITION_BYTES) throw new PdpError("INVALID_REQUEST", `tool ${name}: definition larger than ${MAX_DEFINITION_BYTES} bytes`);
        compileTool(report.serverId, def, compile);
        stored.push({ serverId: report.serverId, definition: def, pin: pinOf(def), reportedAt });
      } catch (err) {
        const e = PdpError.from(err, "INVALID_REQUEST");
        refused.push({ name, reason: e.message });
      }
    }
    const result = await deps.definitions.report(report.serverId, stored);
    return { accepted: stored.length, changed: result.changed, removed: result.removed, refused };
  };
}
