import { PdpError } from "../errors.js";
import type { ToolInfo } from "../policy/types.js";
import type { AppendRefusal, SessionRecord, SessionStore } from "../session/types.js";
import { historyName } from "./derive.js";
import type { HistoryAppend, Item } from "./types.js";

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

/** The refusal of a history append, as an error (a refusal the store does not define: STORE_UNAVAILABLE, fail closed). */
export function appendRefusal(reason: AppendRefusal | string): PdpError {
  switch (reason) {
    case "unknown":
      return new PdpError("SESSION_UNKNOWN", "no such session");
    case "expired":
      return new PdpError("SESSION_EXPIRED", "session expired");
    case "budget_exhausted":
      return new PdpError("BUDGET_EXHAUSTED", "the session's call budget is exhausted");
    case "ended":
    case "revoked":
      return new PdpError("SESSION_REVOKED", `session ${reason}`);
    default:
      return new PdpError("STORE_UNAVAILABLE", "unexpected history append refusal", { cause: new Error(reason.slice(0, 100)) });
  }
}

/**
 * What an allowed call adds to its session's history: the tool's labels and risk from the same
 * policy snapshot the decision was made under. The runner commits it only if the answer stays ALLOW.
 */
export function historyAppend(session: SessionRecord, item: Item, tool: ToolInfo | undefined): HistoryAppend {
  return { sessionId: session.id, call: { tool: historyName(item), labels: tool?.labels ?? [], risk: tool?.risk ?? 0 } };
}

/**
 * Appends an allowed call to its session's history on its own (atomically; the store refuses when
 * the session ended, expired or was revoked meanwhile): the step before the record is written, where
 * the audit cannot carry the append with the record.
 */
export async function appendHistory(sessions: Pick<SessionStore, "appendCall">, append: HistoryAppend): Promise<void> {
  const appended = await sessions.appendCall(append.sessionId, append.call);
  if (!appended.ok) throw appendRefusal(appended.reason);
}
