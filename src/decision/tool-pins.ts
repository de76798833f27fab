/**
 * Pinning tool definitions (the "rug pull"): a session's grant records the digest of each granted
 * tool's definition as it was when the session opened, and a later call of a tool whose current
 * definition differs is DENY TOOL_DEFINITION_CHANGED, naming what changed. The current
 * definition is the one its server last reported, else the one declared in cedar/definitions.
 */
import { PdpError } from "../errors.js";
import { changedParts, type DefinitionPin, type ToolAnnotations } from "../policy/tool-definitions.js";
import type { PolicyEngine } from "../policy/types.js";
import type { StoredDefinition, ToolDefinitionStore } from "../session/tool-definition-types.js";
import type { SessionRecord } from "../session/types.js";

/** A tool's current definition as the PDP knows it. */
export interface CurrentDefinition {
  /** The pin of what the server exposes now: its last report, else the declared definition. */
  readonly pin: DefinitionPin;
  /**
   * The annotations policy may see and where they come from: declared in cedar/ (reviewed, always
   * trusted) wins over reported (trusted only when the server's entity says so).
   */
  readonly annotations?: { readonly source: "reported" | "declared"; readonly hints: ToolAnnotations };
}

/** The current definition of a tool: reported (`stored`) first, else declared in the policy version. */
export function currentDefinition(policy: PolicyEngine, serverId: string, name: string, stored: StoredDefinition | undefined): CurrentDefinition | undefined {
  const declared = policy.definition(serverId, name);
  const pin = stored?.pin ?? declared?.pin;
  if (!pin) return undefined;
  const declaredHints = declared?.definition.annotations;
  const reportedHints = stored?.definition.annotations;
  const annotations = declaredHints ? { source: "declared" as const, hints: declaredHints } : reportedHints ? { source: "reported" as const, hints: reportedHints } : undefined;
  return { pin, ...(annotations && { annotations }) };
}

/** The pins of the granted tools whose definitions are known now (OpenSession). */
export async function pinsFor(
  policy: PolicyEngine,
  store: Pick<ToolDefinitionStore, "getMany">,
  serverId: string,
  tools: readonly string[],
): Promise<Record<string, DefinitionPin> | undefined> {
  if (tools.length === 0) return undefined;
  const reported = await store.getMany(serverId, tools);
  const pins: Record<string, DefinitionPin> = {};
  for (const name of tools) {
    const current = currentDefinition(policy, serverId, name, reported.get(name));
    if (current) pins[name] = current.pin;
  }
  return Object.keys(pins).length > 0 ? pins : undefined;
}

/** Why a pinned tool may not be called now, or undefined when its definition is the pinned one (or it was never pinned). */
export function pinProblem(session: SessionRecord, name: string, current: CurrentDefinition | undefined): string | undefined {
  const pinned = session.toolPins?.[name];
  if (!pinned) return undefined;
  if (!current) return `tool "${name}" has no known definition any more (it was pinned when the session opened): open a new session`;
  const changed = changedParts(pinned, current.pin);
  if (changed.length === 0) return undefined;
  return `tool "${name}" changed its ${changed.join(", ")} since the session was granted it: open a new session to accept the new definition`;
}

/** Refuses a call of a tool whose definition differs from its pin (TOOL_DEFINITION_CHANGED). */
export function checkPin(session: SessionRecord, name: string, current: CurrentDefinition | undefined): void {
  const problem = pinProblem(session, name, current);
  if (problem) throw new PdpError("TOOL_DEFINITION_CHANGED", problem);
}
