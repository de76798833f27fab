/**
 * Serves the docs MCP server over Streamable HTTP (stateless: one server and transport per
 * request), protected by the mcp-pdp PEP. Used by `main.ts`, the end-to-end tests and the demo.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { StreamableHTTPServerTransport } from "@modelcontextprotocol/sdk/server/streamableHttp.js";
// Outside this repository: import { createPep } from "mcp-pdp/pep";
import { createPep, type Pep, type PepDecision, type PdpClientOptions } from "../../src/pep/index.js";
import { DOCS_PROMPTS, DOCS_RESOURCES, DOCS_TOOLS, createDocsServer, type Effect } from "./docs-server.js";

/** Options for {@link startDocsServer}. */
export interface DocsServerOptions {
  /** The PDP: address, credentials, caller token, deadlines. */
  readonly pdp: PdpClientOptions;
  /** The canonical URI of this MCP server. Default `https://docs.example.com/mcp`. */
  readonly serverId?: string;
  /** Listen address. Default 127.0.0.1. */
  readonly host?: string;
  /** Listen port. Default 0 (any free port). */
  readonly port?: number;
  /** Authorization servers named in the protected resource metadata. */
  readonly authorizationServers?: readonly string[];
  /** Purpose when the client declares none. Default none (the PDP refuses an undeclared purpose). */
  readonly defaultPurpose?: string;
  /** Requested lifetime of the task sessions the PEP opens, in seconds (the PDP caps it). */
  readonly sessionTtlSeconds?: number;
  /** Called with every PEP decision. */
  readonly onDecision?: (event: { readonly method: string; readonly item: string; readonly decision: PepDecision }) => void;
}

/** A running docs server. */
export interface DocsServer {
  /** The MCP endpoint, e.g. `http://127.0.0.1:8787/mcp`. */
  readonly url: string;
  readonly serverId: string;
  readonly pep: Pep;
  /** Every call that reached a handler. */
  readonly effects: Effect[];
  close(): Promise<void>;
}

/** The RFC 9728 metadata URL for a resource: the well-known path inserted before the resource's path. */
export function resourceMetadataUrl(serverId: string): string {
  const u = new URL(serverId);
  return `${u.origin}/.well-known/oauth-protected-resource${u.pathname === "/" ? "" : u.pathname}`;
}

/** Starts the docs server. */
export async function startDocsServer(options: DocsServerOptions): Promise<DocsServer> {
  const serverId = options.serverId ?? "https://docs.example.com/mcp";
  const metadataUrl = resourceMetadataUrl(serverId);
  const effects: Effect[] = [];
  const pep = createPep({
    pdp: options.pdp,
    serverId,
    grants: { tools: DOCS_TOOLS, resources: DOCS_RESOURCES, prompts: DOCS_PROMPTS },
    resourceMetadataUrl: metadataUrl,
    ...(options.defaultPurpose && { defaultPurpose: options.defaultPurpose }),
    ...(options.onDecision && { onDecision: options.onDecision }),
    ...(options.sessionTtlSeconds !== undefined && { sessionTtlSeconds: options.sessionTtlSeconds }),
  });
  const metadata = JSON.stringify({
    resource: serverId,
    authorization_servers: options.authorizationServers ?? [],
    bearer_methods_supported: ["header"],
    resource_name: "docs (mcp-pdp example)",
  });
  const metadataPath = new URL(metadataUrl).pathname;

  const http: Server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://localhost").pathname;
    if (path === "/healthz") return void res.writeHead(200, { "content-type": "text/plain" }).end("ok\n");
    if (path === metadataPath && req.method === "GET") return void res.writeHead(200, { "content-type": "application/json" }).end(metadata);
    if (path !== "/mcp") return void res.writeHead(404).end();
    pep
      .handleHttp(req, res, async (request, response, body) => {
        const server = createDocsServer(effects);
        const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
        response.on("close", () => {
          void transport.close();
          void server.close();
        });
        await pep.connect(server, transport);
        await transport.handleRequest(request, response, body);
      })
      .catch((err: unknown) => {
        // The server stays up whatever happened to one request.
        process.stderr.write(`docs-server: request failed: ${(err as Error).message}\n`);
        if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" });
        res.end(JSON.stringify({ jsonrpc: "2.0", id: null, error: { code: -32603, message: "internal error" } }));
      });
  });
  await new Promise<void>((resolve, reject) => {
    http.once("error", reject);
    http.listen(options.port ?? 0, options.host ?? "127.0.0.1", resolve);
  });
  const { address, port } = http.address() as AddressInfo;
  const host = address.includes(":") ? `[${address}]` : address;
  return {
    url: `http://${host}:${port}/mcp`,
    serverId,
    pep,
    effects,
    async close() {
      http.closeAllConnections();
      await new Promise<void>((resolve) => http.close(() => resolve()));
      pep.close();
    },
  };
}
