import { PdpError } from "../errors.js";
import type { ToolInfo } from "../policy/types.js";
import type { AppendRefusal, SessionRecord, SessionStore } from "../session/types.js";
import { historyName } from "./derive.js";
import type { Item } from "./types.js";

/**
 * Refuses an item the session was not granted when it opened (explicit names only), and a tool
 * call that names a resource (`resource_uri`) the session was not granted: the resource a call
 * targets is part of the grant, never ignored.
 */
export function checkGrant(session: SessionRecord, item: Item, resourceUri?: string): void {
  const granted = item.kind === "tool" ? session.grantedTools : item.kind === "resource" ? session.grantedResources : session.grantedPrompts;
  if (!granted.includes(item.name)) throw new PdpError("TOOL_NOT_GRANTED", `${item.kind} "${item.name}" was not granted when the session opened`);
  if (resourceUri !== undefined && item.kind !== "resource" && !session.grantedResources.includes(resourceUri)) {
    throw new PdpError("TOOL_NOT_GRANTED", `resource "${resourceUri}" was not granted when the session opened (a call may target only granted resources)`);
  }
}

/** The refusal of a history append, as an error. */
export function appendRefusal(reason: AppendRefusal): PdpError {
  switch (reason) {
    case "unknown":
      return new PdpError("SESSION_UNKNOWN", "no such session");
    case "expired":
      return new PdpError("SESSION_EXPIRED", "session expired");
    case "budget_exhausted":
      return new PdpError("BUDGET_EXHAUSTED", "the session's call budget is exhausted");
    default:
      return new PdpError("SESSION_REVOKED", `session ${reason}`);
  }
}

/**
 * Appends an allowed call to its session's history (atomically; the store refuses when the session
 * ended, expired or was revoked meanwhile). The tool's labels and risk come from the same policy
 * snapshot the decision was made under.
 */
export async function appendHistory(sessions: Pick<SessionStore, "appendCall">, session: SessionRecord, item: Item, tool: ToolInfo | undefined): Promise<void> {
  const appended = await sessions.appendCall(session.id, { tool: historyName(item), labels: tool?.labels ?? [], risk: tool?.risk ?? 0 });
  if (!appended.ok) throw appendRefusal(appended.reason);
}
