/**
 * Reports the server's tool definitions to the PDP — once per server start or `tools/list`
 * change: the PEP sees every `tools/list` answer its server gives (before filtering it) and
 * reports the list when it differs from the last one the PDP accepted (compared by the RFC 8785
 * digest of the whole list). The PDP pins each granted tool's definition in the session, so a
 * definition that changes afterwards is refused (TOOL_DEFINITION_CHANGED) rather than trusted.
 */
import { createHash } from "node:crypto";
import canonicalize from "canonicalize";
import type { ReportToolsResponse } from "../gen/mcppdp/v1/authorization_pb.js";
import type { McpToolDefinition, PdpClient } from "./pdp-client.js";

export type { McpToolDefinition };

/** Reports a server's tool list when it changed. */
export interface ToolReporter {
  /**
   * Reports `tools` unless they are the list last accepted. Resolves with the PDP's answer, or
   * undefined when nothing changed. Rejects with a PepError when the PDP cannot be reached (the
   * next list is then reported again).
   */
  report(tools: readonly McpToolDefinition[]): Promise<ReportToolsResponse | undefined>;
}

/** The fields the PDP digests, in MCP's own shape (absent stays absent). */
function definitionOf(t: McpToolDefinition): McpToolDefinition {
  return {
    name: t.name,
    ...(t.title !== undefined && { title: t.title }),
    ...(t.description !== undefined && { description: t.description }),
    ...(t.inputSchema !== undefined && { inputSchema: t.inputSchema }),
    ...(t.outputSchema !== undefined && { outputSchema: t.outputSchema }),
    ...(t.annotations !== undefined && { annotations: t.annotations }),
  };
}

/** Creates the reporter for one server. */
export function createToolReporter(deps: { readonly pdp: Pick<PdpClient, "reportTools">; readonly serverId: string }): ToolReporter {
  let last: string | undefined;
  let inFlight: { digest: string; done: Promise<ReportToolsResponse | undefined> } | undefined;
  return {
    async report(tools) {
      const list = tools.map(definitionOf);
      const digest = createHash("sha256").update(canonicalize(list) ?? "").digest("hex");
      if (digest === last) return undefined;
      if (inFlight?.digest === digest) return inFlight.done;
      const done = deps.pdp.reportTools(deps.serverId, list).then((res) => {
        last = digest;
        return res;
      });
      inFlight = { digest, done };
      try {
        return await done;
      } finally {
        if (inFlight?.done === done) inFlight = undefined;
      }
    },
  };
}
