/**
 * The tool definitions MCP servers report (through their PEPs), kept per server: the data the
 * PDP pins a session's grant to, and checks each call against (see decision/tool-pins.ts).
 */
import type { DefinitionPin, ToolDefinition } from "../policy/tool-definitions.js";

/** One tool's reported definition with its pin (RFC 8785 digest). */
export interface StoredDefinition {
  readonly serverId: string;
  readonly definition: ToolDefinition;
  readonly pin: DefinitionPin;
  /** When the server reported it (ms). */
  readonly reportedAt: number;
}

/** What a report changed, per tool name. */
export interface ReportResult {
  /** Names whose digest differs from the one stored before (new tools included). */
  readonly changed: readonly string[];
  /** Names stored before and absent from this report (now removed). */
  readonly removed: readonly string[];
}

/**
 * Reported tool definitions per server. A report replaces the server's whole list (one call per
 * server start or list change), atomically; reading one tool costs one key lookup.
 */
export interface ToolDefinitionStore {
  /** Replaces the server's definitions with these (names unique; checked by the caller). */
  report(serverId: string, definitions: readonly StoredDefinition[]): Promise<ReportResult>;
  /** One tool's current definition, or undefined when the server never reported it. */
  get(serverId: string, name: string): Promise<StoredDefinition | undefined>;
  /** Several tools of one server (FilterTools): a map by name of those known. */
  getMany(serverId: string, names: readonly string[]): Promise<Map<string, StoredDefinition>>;
  close(): Promise<void>;
}
