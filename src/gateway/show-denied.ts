import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import { isJSONRPCResultResponse, type JSONRPCMessage } from "@modelcontextprotocol/sdk/types.js";
import { META_DECISION } from "../pep/denial-result.js";
import { refusal, type PepDecision } from "../pep/pep-decision.js";
import type { CallerIdentity } from "../pep/request-identity.js";
import type { TaskSessions } from "../pep/task-sessions.js";

interface Tool {
  readonly name?: unknown;
  readonly description?: unknown;
  readonly _meta?: Record<string, unknown>;
}

/**
 * For `listDenied: "show"`: puts back into a filtered `tools/list` answer the tools the filter
 * removed, each marked as refused — its description prefixed with `[refused by policy: CODE]` and
 * its `_meta` carrying the refusal under `io.mcp-pdp/decision` — so that a client that checks the
 * list before calling still sends the call, and the user sees the PDP's reason in the answer.
 * `unfiltered` returns the upstream's last tools/list result for this request. Patches `send` of
 * the SDK transport (the guarded transport sends through it after filtering).
 */
export function showDeniedTools(
  transport: Transport,
  unfiltered: () => Record<string, unknown> | undefined,
  sessions: TaskSessions,
  identity: CallerIdentity,
): void {
  const send = transport.send.bind(transport);
  transport.send = async (message: JSONRPCMessage, options) => send(annotate(message), options);

  function annotate(message: JSONRPCMessage): JSONRPCMessage {
    const all = unfiltered();
    if (!all || !isJSONRPCResultResponse(message) || !Array.isArray(message.result.tools) || !Array.isArray(all.tools)) return message;
    const whole = (message.result._meta as Record<string, unknown> | undefined)?.[META_DECISION] as PepDecision | undefined;
    const shown = new Set((message.result.tools as Tool[]).map((t) => String(t.name)));
    const tools = (all.tools as Tool[]).map((tool) => {
      const name = String(tool.name);
      if (shown.has(name)) return (message.result.tools as Tool[]).find((t) => String(t.name) === name)!;
      const refused = sessions.refusedGrant(identity, name);
      const decision = whole
        ? whole
        : refused
        ? { ...refusal("TOOL_NOT_GRANTED", `tool "${name}" was refused when the task session opened: ${refused.reasonCode}`), reasons: refused.reasons }
        : refusal("NO_PERMIT", `tool "${name}" is not visible to this caller now`);
      const description = typeof tool.description === "string" ? tool.description : "";
      return { ...tool, description: `[refused by policy: ${decision.reasonCode}] ${description}`.trim(), _meta: { ...tool._meta, [META_DECISION]: decision } };
    });
    return { ...message, result: { ...message.result, tools } };
  }
}
