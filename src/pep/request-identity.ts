import type { IncomingHttpHeaders } from "node:http";

/**
 * The HTTP headers the PEP reads from an MCP request (all case-insensitive).
 *
 * | header | carries |
 * |---|---|
 * | `Authorization: Bearer …` | the user's access token for this MCP server (forwarded to the PDP only) |
 * | `X-Workload-Token` | the agent's workload token (JWT-SVID or RFC 8693 token; forwarded to the PDP only) |
 * | `X-MCP-Client-Id` | the MCP client's OAuth client id; the PDP checks it against the token's `client_id`/`azp` |
 * | `X-Task-Purpose` | the declared purpose of the task (default: the PEP's `defaultPurpose`) |
 * | `X-Task-Session` | a PDP task-session handle to use (optional; otherwise the PEP keeps one per context) |
 * | `X-Task-Id` | optional: tells apart two tasks of the same user, agent, client and purpose |
 */
export const PEP_HEADERS = Object.freeze({
  authorization: "authorization",
  workloadToken: "x-workload-token",
  clientId: "x-mcp-client-id",
  purpose: "x-task-purpose",
  taskSession: "x-task-session",
  taskId: "x-task-id",
});

/** Headers that carry credentials: the PEP removes them before the MCP server's own code runs. */
export const SECRET_HEADERS: readonly string[] = [PEP_HEADERS.authorization, PEP_HEADERS.workloadToken];

/** Who is asking, as the MCP request presented it (nothing here is verified: the PDP verifies). */
export interface CallerIdentity {
  /** The user's bearer token ("" if none was presented). */
  readonly userToken: string;
  /** The agent's workload token ("" if none). */
  readonly workloadToken: string;
  /** The MCP client id as declared ("" if none). */
  readonly clientId: string;
  /** The declared purpose. */
  readonly purpose: string;
  /** A task-session handle the client presented, if any. */
  readonly taskSession?: string;
  /** A task id the client presented, if any. */
  readonly taskId?: string;
  /**
   * True when `workloadToken` is the enforcement point's own stand-in, not an agent the request
   * attested (the gateway, for a client that sent only an OAuth bearer without `act`). The PDP is
   * told, and policy sees `context.agent_attestation == "client"`.
   */
  readonly agentStandIn?: boolean;
}

/** Header values as either Node's `IncomingHttpHeaders` or the SDK's `IsomorphicHeaders`. */
export type HeaderBag = IncomingHttpHeaders | Record<string, string | string[] | undefined>;

function header(headers: HeaderBag, name: string): string {
  const v = headers[name] ?? headers[name.toLowerCase()];
  const s = Array.isArray(v) ? v[0] : v;
  return typeof s === "string" ? s.trim() : "";
}

/** The token of an `Authorization: Bearer …` header, or "" when there is none. */
export function bearerToken(headers: HeaderBag): string {
  const m = /^Bearer\s+(\S+)$/i.exec(header(headers, PEP_HEADERS.authorization));
  return m ? m[1]! : "";
}

/** Reads a {@link CallerIdentity} from the request headers. */
export function identityFromHeaders(headers: HeaderBag, defaults: { readonly purpose: string; readonly clientId?: string }): CallerIdentity {
  const taskSession = header(headers, PEP_HEADERS.taskSession);
  const taskId = header(headers, PEP_HEADERS.taskId);
  return {
    userToken: bearerToken(headers),
    workloadToken: header(headers, PEP_HEADERS.workloadToken),
    clientId: header(headers, PEP_HEADERS.clientId) || (defaults.clientId ?? ""),
    purpose: header(headers, PEP_HEADERS.purpose) || defaults.purpose,
    ...(taskSession && { taskSession }),
    ...(taskId && { taskId }),
  };
}

/** A copy of the headers without the credential headers (what the MCP server's own code may see). */
export function withoutSecrets<T extends HeaderBag>(headers: T): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(headers)) if (!SECRET_HEADERS.includes(k.toLowerCase())) out[k] = v;
  return out as T;
}
