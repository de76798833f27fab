import type { IncomingMessage, ServerResponse } from "node:http";
import type { JsonObject } from "@bufbuild/protobuf";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import type { MessageExtraInfo } from "@modelcontextprotocol/sdk/types.js";
import { createGuard, type GuardedMethod, type VisibleTools } from "./pep-guard.js";
import { guardTransport, type PreDecision } from "./guard-transport.js";
import { createHttpHandler, type McpHttpNext, type McpHttpRequest } from "./http-handler.js";
import { createPdpClient, type PdpClient, type PdpClientOptions } from "./pdp-client.js";
import type { PepDecision } from "./pep-decision.js";
import { PepError } from "./pep-error.js";
import { identityFromHeaders, type CallerIdentity } from "./request-identity.js";
import { createTaskSessions, type SessionLease, type TaskGrants } from "./task-sessions.js";
import { createToolReporter, type McpToolDefinition } from "./tool-reporter.js";
import type { ReportToolsResponse } from "../gen/mcppdp/v1/authorization_pb.js";

/** Options for {@link createPep}. */
export interface PepOptions {
  /** How to reach the PDP (address, credentials, caller token, deadlines). */
  readonly pdp: PdpClientOptions;
  /** This MCP server's canonical URI (RFC 8707 resource; user tokens must name it in `aud`). */
  readonly serverId: string;
  /** What a task session is opened for: the server's tools, resources and prompts. */
  readonly grants: TaskGrants;
  /** Purpose when the request declares none (`X-Task-Purpose`). Default none: the PDP refuses. */
  readonly defaultPurpose?: string;
  /** Requested lifetime of the task sessions the PEP opens, in seconds (the PDP caps it). */
  readonly sessionTtlSeconds?: number;
  /** The protected resource metadata URL (RFC 9728), named in 401/403 `WWW-Authenticate`. */
  readonly resourceMetadataUrl?: string;
  /** The resource a tool call targets (sent as `resource_uri`), e.g. from its `uri` argument. */
  readonly resourceOf?: (tool: string, args: JsonObject) => string | undefined;
  /**
   * Who is asking, for transports without HTTP headers (stdio). Default: the PEP headers of the
   * HTTP request (see `PEP_HEADERS`), the user token falling back to `authInfo.token`.
   */
  readonly identify?: (extra: MessageExtraInfo | undefined) => CallerIdentity;
  /** Called with every decision (for logs or metrics). Must not throw; cannot change a decision. */
  readonly onDecision?: (event: { readonly method: string; readonly item: string; readonly decision: PepDecision }) => void;
  /** Most task contexts kept at once. Default 10000. */
  readonly maxTaskSessions?: number;
  /** A PDP client to share instead of building one from `pdp` (it is then not closed by `close()`). */
  readonly pdpClient?: PdpClient;
  /**
   * Report the server's tool definitions to the PDP whenever a `tools/list` answer differs from
   * the last one reported (the PDP pins them in each session's grant). Default true.
   */
  readonly reportTools?: boolean;
  /** Called when a tool report fails (the PDP is unreachable or refused it). Must not throw. */
  readonly onReportError?: (err: unknown) => void;
}

/** An MCP server's enforcement point. */
export interface Pep {
  /** Connects `server` (an `McpServer` or a low-level `Server`) to `transport`, guarded. */
  connect(server: { connect(transport: Transport): Promise<void> }, transport: Transport): Promise<void>;
  /** The guarded transport itself, for `server.connect(pep.guardTransport(t))`. */
  guardTransport(transport: Transport): Transport;
  /**
   * The Streamable HTTP side: 401 without a bearer token, 403 `insufficient_scope` for step-up,
   * `DELETE` ends the task session; everything else goes on to `next` (the transport).
   */
  handleHttp(req: McpHttpRequest, res: ServerResponse, next: McpHttpNext): Promise<void>;
  /** Opens (or finds) the task session for this identity's context; returns the handle or the refusal. */
  openTaskSession(identity: CallerIdentity): Promise<SessionLease>;
  /** Ends a task session (the presented handle, else the kept one for the context). True if one ended. */
  endTaskSession(identity: CallerIdentity): Promise<boolean>;
  /** Decides one guarded MCP request directly (for custom handlers). Never throws. */
  decide(identity: CallerIdentity, method: GuardedMethod, params: unknown): Promise<PepDecision>;
  /** The tools this identity may see now. Never throws; empty on any refusal. */
  visibleTools(identity: CallerIdentity, names: readonly string[]): Promise<VisibleTools>;
  /** Reads a {@link CallerIdentity} from HTTP headers with this PEP's defaults. */
  identityFrom(headers: IncomingMessage["headers"]): CallerIdentity;
  /**
   * Reports the server's tool definitions now (e.g. at start, before the first client lists them);
   * nothing is sent when they equal the last list reported. Rejects with a PepError when the PDP
   * cannot be reached.
   */
  reportTools(tools: readonly McpToolDefinition[]): Promise<ReportToolsResponse | undefined>;
  /** Closes the PDP channels (only those this PEP created). */
  close(): void;
}

/**
 * Creates the enforcement point for one MCP server.
 *
 * ```ts
 * const pep = createPep({ pdp: { address: "127.0.0.1:50051" }, serverId: "https://docs.example.com/mcp",
 *   grants: { tools: ["search_documents"] }, defaultPurpose: "research" });
 * http.createServer((req, res) => pep.handleHttp(req, res, async (req, res, body) => {
 *   const transport = new StreamableHTTPServerTransport({ sessionIdGenerator: undefined });
 *   await pep.connect(buildServer(), transport);
 *   await transport.handleRequest(req, res, body);
 * }));
 * ```
 */
export function createPep(options: PepOptions): Pep {
  const pdp = options.pdpClient ?? createPdpClient(options.pdp);
  const sessions = createTaskSessions({
    pdp,
    serverId: options.serverId,
    grants: options.grants,
    ...(options.sessionTtlSeconds !== undefined && { ttlSeconds: options.sessionTtlSeconds }),
    ...(options.maxTaskSessions !== undefined && { maxEntries: options.maxTaskSessions }),
  });
  const guard = createGuard({
    pdp,
    sessions,
    serverId: options.serverId,
    ...(options.resourceOf && { resourceOf: options.resourceOf }),
    ...(options.onDecision && { onDecision: options.onDecision }),
  });
  const preDecisions = new WeakMap<object, PreDecision>();
  const defaults = { purpose: options.defaultPurpose ?? "" };
  const identityFrom = (headers: IncomingMessage["headers"]) => identityFromHeaders(headers, defaults);
  const identify =
    options.identify ??
    ((extra: MessageExtraInfo | undefined): CallerIdentity => {
      const headers = extra?.requestInfo?.headers ?? {};
      const id = identityFromHeaders(headers, { ...defaults, ...(extra?.authInfo?.clientId && { clientId: extra.authInfo.clientId }) });
      return id.userToken || !extra?.authInfo?.token ? id : { ...id, userToken: extra.authInfo.token };
    });
  const http = createHttpHandler({
    guard,
    pdp,
    sessions,
    serverId: options.serverId,
    identify: identityFrom,
    preDecisions,
    ...(options.resourceMetadataUrl && { resourceMetadataUrl: options.resourceMetadataUrl }),
  });
  const reporter = createToolReporter({ pdp, serverId: options.serverId });
  const wrap = (t: Transport) =>
    guardTransport(t, {
      guard,
      identify,
      preDecisions,
      ...(options.reportTools !== false && { reporter }),
      ...(options.onReportError && { onReportError: options.onReportError }),
    });

  return {
    connect: (server, transport) => server.connect(wrap(transport)),
    guardTransport: wrap,
    handleHttp: http,
    openTaskSession: (identity) => sessions.acquire(identity),
    async endTaskSession(identity) {
      const handle = identity.taskSession ?? sessions.kept(identity);
      if (!handle) return false;
      try {
        const ended = await pdp.endSession(handle);
        sessions.forget(identity);
        return ended;
      } catch (err) {
        throw PepError.from(err, "EndSession");
      }
    },
    decide: (identity, method, params) => guard.decide(identity, method, params),
    visibleTools: (identity, names) => guard.visibleTools(identity, names),
    identityFrom,
    reportTools: (tools) => reporter.report(tools),
    close() {
      if (!options.pdpClient) pdp.close();
    },
  };
}

