import { Metadata, type ChannelCredentials } from "@grpc/grpc-js";
import type { JsonObject } from "@bufbuild/protobuf";
import { AGENT_ATTESTATION_METADATA } from "../grpc/agent-attestation-metadata.js";
import { createClient, type CallOptions } from "../grpc/client.js";
import { AuthorizationService, type AuthorizeResponse, type FilterToolsResponse, type ReportToolsResponse } from "../gen/mcppdp/v1/authorization_pb.js";
import type { Action } from "../gen/mcppdp/v1/common_pb.js";
import { SessionService, type OpenSessionResponse } from "../gen/mcppdp/v1/session_pb.js";
import { PepError } from "./pep-error.js";
import { traceMetadata, type TraceContext } from "./trace-context.js";

/** An MCP tool definition as `tools/list` gives it (other fields are ignored). */
export interface McpToolDefinition {
  readonly name: string;
  readonly title?: string;
  readonly description?: string;
  readonly inputSchema?: JsonObject;
  readonly outputSchema?: JsonObject;
  readonly annotations?: {
    readonly title?: string;
    readonly readOnlyHint?: boolean;
    readonly destructiveHint?: boolean;
    readonly idempotentHint?: boolean;
    readonly openWorldHint?: boolean;
  };
}

/** Options for {@link createPdpClient}. */
export interface PdpClientOptions {
  /** The PDP's gRPC address, `host:port`. */
  readonly address: string;
  /** Channel credentials (TLS / mTLS). Default plaintext — loopback development only. */
  readonly credentials?: ChannelCredentials;
  /**
   * This enforcement point's own credential for the PDP (a JWT from a caller issuer, audience
   * `mcp-pdp`, `sub` = the MCP server's canonical URI), sent as `authorization: Bearer …` gRPC
   * metadata. A function is called before every RPC, so it can refresh. Not needed with mTLS or
   * against a development-mode PDP. This is never the user's token.
   */
  readonly callerToken?: string | (() => string | Promise<string>);
  /** Deadline of every Authorize / FilterTools / EndSession call in ms. Default 1000. */
  readonly timeoutMs?: number;
  /** Deadline of OpenSession in ms (it evaluates every requested item). Default 2000. */
  readonly openSessionTimeoutMs?: number;
}

/** The fields every question to the PDP carries. Tokens go to the PDP and nowhere else. */
export interface PdpIdentity {
  readonly userToken: string;
  readonly workloadToken: string;
  readonly clientId: string;
  readonly serverId: string;
  readonly purpose: string;
  /**
   * The caller's W3C trace context, sent as `traceparent`/`tracestate` metadata so the PDP's spans
   * join its trace. Without it, the host's active OpenTelemetry context is sent, if any.
   */
  readonly trace?: TraceContext;
  /**
   * True when `workloadToken` is this enforcement point's own stand-in for an agent the request
   * did not attest: sent as `mcp-pdp-agent-attestation: client` metadata, so that policy sees
   * `context.agent_attestation == "client"`.
   */
  readonly agentStandIn?: boolean;
}

/** One Authorize question. */
export interface PdpAuthorizeRequest extends PdpIdentity {
  readonly sessionId: string;
  readonly action: Action;
  readonly tool?: string;
  readonly resourceUri?: string;
  readonly arguments?: JsonObject;
}

/** One OpenSession request. */
export interface PdpOpenSessionRequest extends PdpIdentity {
  readonly tools?: readonly string[];
  readonly resources?: readonly string[];
  readonly prompts?: readonly string[];
  /** Requested lifetime in seconds; the PDP caps it. Default: the PDP's default. */
  readonly ttlSeconds?: number;
}

/**
 * A PDP client for enforcement points. Every call has a deadline; nothing is retried (grpc-js
 * retries are switched off on the channel, and the library never repeats a call whose outcome
 * is unknown). Every failure — unreachable, too slow, any RPC error — rejects with a
 * {@link PepError} `PDP_UNAVAILABLE`, which the guard turns into a refusal.
 */
export interface PdpClient {
  authorize(request: PdpAuthorizeRequest): Promise<AuthorizeResponse>;
  filterTools(request: PdpIdentity & { readonly sessionId: string; readonly tools: readonly string[] }): Promise<FilterToolsResponse>;
  openSession(request: PdpOpenSessionRequest): Promise<OpenSessionResponse>;
  /** Ends (revokes) a task session at once. True if it was active. */
  endSession(sessionId: string): Promise<boolean>;
  /** Reports this server's tool definitions (see tool-reporter.ts). */
  reportTools(serverId: string, tools: readonly McpToolDefinition[]): Promise<ReportToolsResponse>;
  /** Closes the channels. */
  close(): void;
}

/** Creates a {@link PdpClient} over grpc-js. */
export function createPdpClient(options: PdpClientOptions): PdpClient {
  const clientOptions = {
    ...(options.credentials && { credentials: options.credentials }),
    // No retries of any kind: Authorize appends to the session history, so a repeated call is
    // not idempotent. A call that fails is a refusal, decided here, not a second attempt.
    // Reconnect backoff capped at 5 s (grpc-js default: 120 s), so decisions resume soon after
    // the PDP is back; until then calls fail fast and are refused.
    channelOptions: { "grpc.enable_retries": 0, "grpc.max_reconnect_backoff_ms": 5000 },
  };
  const authz = createClient(AuthorizationService, options.address, clientOptions);
  const sessions = createClient(SessionService, options.address, clientOptions);
  const timeoutMs = options.timeoutMs ?? 1000;
  const openTimeoutMs = options.openSessionTimeoutMs ?? 2000;

  const callOptions = async (deadlineMs: number, trace: TraceContext | undefined, standIn: boolean): Promise<CallOptions> => {
    const t = options.callerToken;
    const bearer = typeof t === "function" ? await t() : t;
    let metadata = traceMetadata(trace);
    if (standIn) (metadata ??= new Metadata()).set(AGENT_ATTESTATION_METADATA, "client");
    return { timeoutMs: deadlineMs, ...(bearer && { bearer }), ...(metadata && { metadata }) };
  };
  const rpc = async <T>(name: string, deadlineMs: number, trace: TraceContext | undefined, call: (o: CallOptions) => Promise<T>, standIn = false): Promise<T> => {
    try {
      return await call(await callOptions(deadlineMs, trace, standIn));
    } catch (err) {
      throw PepError.from(err, name);
    }
  };

  return {
    authorize: (r) =>
      rpc("Authorize", timeoutMs, r.trace, (o) =>
        authz.authorize(
          {
            sessionId: r.sessionId,
            userToken: r.userToken,
            workloadToken: r.workloadToken,
            clientId: r.clientId,
            serverId: r.serverId,
            purpose: r.purpose,
            action: r.action,
            tool: r.tool ?? "",
            resourceUri: r.resourceUri ?? "",
            ...(r.arguments && { arguments: r.arguments }),
          },
          o,
        ),
        r.agentStandIn,
      ),
    filterTools: (r) =>
      rpc("FilterTools", timeoutMs, r.trace, (o) =>
        authz.filterTools(
          {
            sessionId: r.sessionId,
            userToken: r.userToken,
            workloadToken: r.workloadToken,
            clientId: r.clientId,
            serverId: r.serverId,
            purpose: r.purpose,
            tools: [...r.tools],
          },
          o,
        ),
        r.agentStandIn,
      ),
    openSession: (r) =>
      rpc("OpenSession", openTimeoutMs, r.trace, (o) =>
        sessions.openSession(
          {
            userToken: r.userToken,
            workloadToken: r.workloadToken,
            clientId: r.clientId,
            serverId: r.serverId,
            purpose: r.purpose,
            tools: [...(r.tools ?? [])],
            resources: [...(r.resources ?? [])],
            prompts: [...(r.prompts ?? [])],
            ...(r.ttlSeconds !== undefined && { ttl: { seconds: BigInt(r.ttlSeconds) } }),
          },
          o,
        ),
        r.agentStandIn,
      ),
    reportTools: (serverId, tools) =>
      rpc("ReportTools", openTimeoutMs, undefined, (o) =>
        authz.reportTools(
          {
            serverId,
            tools: tools.map((t) => ({
              name: t.name,
              title: t.title ?? "",
              description: t.description ?? "",
              ...(t.inputSchema && { inputSchema: t.inputSchema }),
              ...(t.outputSchema && { outputSchema: t.outputSchema }),
              ...(t.annotations && { annotations: { ...t.annotations } }),
            })),
          },
          o,
        ),
      ),
    endSession: async (sessionId) => (await rpc("EndSession", timeoutMs, undefined, (o) => sessions.endSession({ sessionId }, o))).ended,
    close() {
      authz.close();
      sessions.close();
    },
  };
}
