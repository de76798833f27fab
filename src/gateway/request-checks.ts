import type { IncomingHttpHeaders, ServerResponse } from "node:http";
import { isJsonContentType } from "@modelcontextprotocol/sdk/shared/mediaType.js";

/** Response headers a browser client may read (CORS `Access-Control-Expose-Headers`). */
export const EXPOSED_HEADERS = ["www-authenticate", "mcp-session-id", "x-task-session"] as const;
const EXPOSED = EXPOSED_HEADERS.join(",");

/** Most distinct `Host` values remembered (a client sends the same one every time). */
const MAX_REMEMBERED_HOSTS = 64;
const hostNames = new Map<string, string | null>();

/** The host name of a `Host` header as a URL parser reads it (null when it does not parse). */
function hostNameOf(host: string): string | null {
  let name = hostNames.get(host);
  if (name !== undefined) return name;
  try {
    name = new URL(`http://${host}`).hostname;
  } catch {
    name = null;
  }
  if (hostNames.size >= MAX_REMEMBERED_HOSTS) hostNames.clear();
  hostNames.set(host, name);
  return name;
}

/**
 * Whether a `Host` header names an allowed host (any port) — the same test as the SDK's
 * `hostHeaderValidation` middleware, which answers the refusals (DNS-rebinding protection).
 */
export function hostAllowed(host: string | undefined, allowedHosts: readonly string[]): boolean {
  if (!host) return false;
  const name = hostNameOf(host);
  return name !== null && allowedHosts.includes(name);
}

/**
 * Whether an `Origin` header is allowed: one of `allowedOrigins` when any are configured, else an
 * origin whose host is one of `allowedHosts`.
 */
export function originAllowed(origin: string, config: { readonly allowedOrigins: readonly string[]; readonly allowedHosts: readonly string[] }): boolean {
  if (config.allowedOrigins.length > 0) return config.allowedOrigins.includes(origin);
  let host = "";
  try {
    host = new URL(origin).hostname;
  } catch {
    return false;
  }
  return host !== "" && config.allowedHosts.includes(host);
}

/**
 * The CORS headers of an answer to an actual (not preflight) request from an allowed origin, as
 * the `cors` middleware sets them on the express path: the origin reflected, `Vary: Origin`, the
 * exposed headers.
 */
export function corsHeaders(res: ServerResponse, origin: string | undefined): void {
  if (origin) res.setHeader("access-control-allow-origin", origin);
  res.setHeader("vary", "Origin");
  res.setHeader("access-control-expose-headers", EXPOSED);
}

/** The path of a request target (without its query). */
export function pathOf(url: string | undefined): string {
  if (!url) return "";
  const q = url.indexOf("?");
  return q < 0 ? url : url.slice(0, q);
}

/** `Content-Type: application/json`, optionally with `charset=utf-8` — what the hot path parses itself. */
const PLAIN_JSON = /^application\/json\s*(;\s*charset="?utf-8"?\s*)?$/i;

/**
 * Whether a request body is plain JSON of a known, bounded length: `application/json` in UTF-8,
 * no content encoding, a `Content-Length` between 1 and `maxBytes`. Anything else takes the
 * general path (express), which refuses or decodes it.
 */
export function plainJsonBody(headers: { readonly [name: string]: string | string[] | undefined }, maxBytes: number): number | undefined {
  const type = headers["content-type"];
  const encoding = headers["content-encoding"];
  if (typeof type !== "string" || !PLAIN_JSON.test(type) || (encoding !== undefined && encoding !== "identity")) return undefined;
  const length = Number(headers["content-length"]);
  return Number.isInteger(length) && length > 0 && length <= maxBytes ? length : undefined;
}

/**
 * Why the SDK's Streamable HTTP transport would refuse a POST for its media types — an `Accept`
 * without both `application/json` and `text/event-stream` (406), a `Content-Type` other than
 * `application/json` (415) — with the SDK's own message; undefined when it would not. Checked
 * before a call is decided and relayed directly (no SDK transport on that path).
 */
export function mediaRefusal(headers: IncomingHttpHeaders): { readonly status: 406 | 415; readonly message: string } | undefined {
  const accept = headers.accept;
  if (!accept?.includes("application/json") || !accept.includes("text/event-stream")) return { status: 406, message: "Not Acceptable: Client must accept both application/json and text/event-stream" };
  if (!isJsonContentType(headers["content-type"])) return { status: 415, message: "Unsupported Media Type: Content-Type must be application/json" };
  return undefined;
}
