/**
 * The demo MCP server "docs": four tools of different risk, one resource and one prompt, as
 * described by the bundled cedar/ (server https://docs.example.com/mcp). The tools do nothing
 * real; every call that reaches them is written to `effects`, so a test can prove that a refused
 * call never ran.
 */
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { z } from "zod";

/** The tool names, as `cedar/entities/tools.json` lists them for the docs server. */
export const DOCS_TOOLS = ["search_documents", "read_document", "send_message", "deploy_production"] as const;
/** The one resource the server offers (no policy grants it: reading it is refused). */
export const DOCS_RESOURCES = ["docs://handbook"] as const;
/** The one prompt the server offers. */
export const DOCS_PROMPTS = ["summarize"] as const;

/** A call that reached a tool, resource or prompt handler, and what the handler could see. */
export interface Effect {
  readonly kind: "tool" | "resource" | "prompt";
  readonly name: string;
  readonly args: Record<string, unknown>;
  /** The request headers the handler saw (names only). */
  readonly headersSeen: readonly string[];
  /** Whether the handler could see a token in `authInfo`. */
  readonly tokenSeen: boolean;
}

const DOCUMENTS: Record<string, { title: string; body: string; labels: string[] }> = {
  "doc-1": { title: "Cedar policy primer", body: "Cedar policies permit or forbid; forbid wins.", labels: [] },
  "doc-2": { title: "Q3 acquisition plan (confidential)", body: "Target: ACME Corp. Offer: 1.2bn.", labels: ["sensitive"] },
  "doc-3": { title: "MCP authorization notes", body: "Tokens are bound to one resource (RFC 8707).", labels: [] },
};

type Extra = { requestInfo?: { headers: Record<string, unknown> }; authInfo?: { token: string } };

/** Builds one docs server; `effects` receives every call that reached a handler. */
export function createDocsServer(effects: Effect[] = []): McpServer {
  const server = new McpServer({ name: "docs", version: "1.0.0" });
  const seen = (kind: Effect["kind"], name: string, args: Record<string, unknown>, extra: Extra) =>
    effects.push({
      kind,
      name,
      args,
      headersSeen: Object.keys(extra.requestInfo?.headers ?? {}),
      tokenSeen: Boolean(extra.authInfo?.token),
    });
  const text = (t: string) => ({ content: [{ type: "text" as const, text: t }] });

  server.registerTool(
    "search_documents",
    { description: "Search the document index (harmless).", inputSchema: { query: z.string() } },
    async ({ query }, extra) => {
      seen("tool", "search_documents", { query }, extra);
      const hits = Object.entries(DOCUMENTS).filter(([, d]) => `${d.title} ${d.body}`.toLowerCase().includes(query.toLowerCase()));
      return text(hits.length ? hits.map(([id, d]) => `${id}: ${d.title}`).join("\n") : "no documents found");
    },
  );
  server.registerTool(
    "read_document",
    { description: "Read a document (labelled sensitive).", inputSchema: { id: z.string() } },
    async ({ id }, extra) => {
      seen("tool", "read_document", { id }, extra);
      const d = DOCUMENTS[id];
      return d ? text(`${d.title}\n\n${d.body}`) : { ...text(`no document ${id}`), isError: true };
    },
  );
  server.registerTool(
    "send_message",
    { description: "Send a message to an external recipient (egress).", inputSchema: { to: z.string(), body: z.string() } },
    async ({ to, body }, extra) => {
      seen("tool", "send_message", { to, body }, extra);
      return text(`message sent to ${to}`);
    },
  );
  server.registerTool(
    "deploy_production",
    { description: "Deploy a version to production (production write; needs a human approval).", inputSchema: { version: z.string() } },
    async ({ version }, extra) => {
      seen("tool", "deploy_production", { version }, extra);
      return text(`version ${version} deployed to production`);
    },
  );
  server.registerResource("handbook", "docs://handbook", { description: "The employee handbook.", mimeType: "text/plain" }, async (uri, extra) => {
    seen("resource", uri.href, {}, extra);
    return { contents: [{ uri: uri.href, text: "Be kind. Ship carefully." }] };
  });
  server.registerPrompt("summarize", { description: "Summarize a document.", argsSchema: { id: z.string() } }, async ({ id }, extra) => {
    seen("prompt", "summarize", { id }, extra);
    return { messages: [{ role: "user", content: { type: "text", text: `Summarize document ${id}.` } }] };
  });
  return server;
}
