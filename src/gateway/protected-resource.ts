import type { OAuthProtectedResourceMetadata } from "@modelcontextprotocol/sdk/shared/auth.js";

/** The RFC 9728 well-known path prefix. */
export const PROTECTED_RESOURCE_PATH = "/.well-known/oauth-protected-resource";

/**
 * Where the protected-resource metadata of `resource` lives (RFC 9728 §3.1): the well-known path
 * inserted between the host and the resource's path, e.g. `https://h/mcp` →
 * `https://h/.well-known/oauth-protected-resource/mcp`.
 */
export function resourceMetadataUrl(resource: string): string {
  const url = new URL(resource);
  const path = url.pathname === "/" ? "" : url.pathname.replace(/\/$/, "");
  return `${url.origin}${PROTECTED_RESOURCE_PATH}${path}`;
}

/** The gateway's protected-resource metadata document (RFC 9728 §2). */
export function protectedResourceMetadata(options: {
  readonly resource: string;
  readonly authorizationServers: readonly string[];
  readonly scopesSupported: readonly string[];
  readonly resourceName: string;
}): OAuthProtectedResourceMetadata {
  return {
    resource: options.resource,
    authorization_servers: [...options.authorizationServers],
    ...(options.scopesSupported.length > 0 && { scopes_supported: [...options.scopesSupported] }),
    bearer_methods_supported: ["header"],
    resource_name: options.resourceName,
  };
}

function quoted(value: string): string {
  return `"${value.replace(/[\\"]/g, "\\$&").replace(/[\r\n]/g, " ")}"`;
}

/** `WWW-Authenticate` for a token that failed verification (RFC 6750 §3.1 `invalid_token`). */
export function invalidTokenChallenge(description: string, metadataUrl: string): string {
  return `Bearer error="invalid_token", error_description=${quoted(description)}, resource_metadata=${quoted(metadataUrl)}`;
}
