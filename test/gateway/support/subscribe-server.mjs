// A stdio MCP server for the gateway's shared-upstream tests (run with `node`): resources
// test://doc and test://other with subscriptions; the tool `echo` with "touch" sends
// notifications/resources/updated for every subscribed URI, with "subs" answers the URIs
// subscribed now (what the gateway asked of this one shared connection).
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { SubscribeRequestSchema, UnsubscribeRequestSchema } from "@modelcontextprotocol/sdk/types.js";
import { z } from "zod";

const subs = new Set();
const server = new McpServer({ name: "subscribe-server", version: "1.0.0" }, { capabilities: { resources: { subscribe: true } } });
server.registerResource("doc", "test://doc", {}, async (uri) => ({ contents: [{ uri: uri.href, text: "doc" }] }));
server.server.setRequestHandler(SubscribeRequestSchema, async (r) => (subs.add(r.params.uri), {}));
server.server.setRequestHandler(UnsubscribeRequestSchema, async (r) => (subs.delete(r.params.uri), {}));
server.registerTool("echo", { inputSchema: { message: z.string() } }, async ({ message }) => {
  if (message === "touch") for (const uri of subs) await server.server.sendResourceUpdated({ uri });
  const text = message === "subs" ? [...subs].sort().join(",") : message;
  return { content: [{ type: "text", text }] };
});
await server.connect(new StdioServerTransport());
