/**
 * A real OAuth 2.0 authorization server for tests: `oidc-provider` 9 on 127.0.0.1:0, issuing JWT
 * access tokens (RFC 9068) by client credentials, bound to a resource (RFC 8707).
 */
import { createServer } from "node:http";
import type { RequestListener } from "node:http";
import type { AddressInfo } from "node:net";
import { exportJWK, generateKeyPair } from "jose";

/** Options for {@link startOidcProvider}. */
export interface OidcProviderOptions {
  /** Resource indicators (MCP server canonical URIs) tokens may be issued for. */
  readonly resources: readonly string[];
  /** Default `test-client`. */
  readonly clientId?: string;
  /** Default `test-secret`. */
  readonly clientSecret?: string;
  /** Scopes the resource servers accept. Default `["tools:call"]`. */
  readonly scopes?: readonly string[];
  /** Access token lifetime in seconds. Default 300. */
  readonly accessTokenTtlSeconds?: number;
  /**
   * A second confidential client (`<clientId>-agent`, same secret) whose access tokens carry an
   * RFC 8693 actor claim `act: { sub: actor }` (added through oidc-provider's `extraTokenClaims`):
   * a token that names the agent acting for the client.
   */
  readonly actor?: string;
}

/** A running authorization server. */
export interface OidcProvider {
  /** The issuer (`http://127.0.0.1:<port>`), copied verbatim into `iss`. */
  readonly issuer: string;
  /** Where its signing keys are served. */
  readonly jwksUri: string;
  /** The client id tokens are issued to. */
  readonly clientId: string;
  /** Gets a JWT access token for `resource` by client credentials, optionally asking for `scope`. */
  getToken(resource: string, scope?: string): Promise<string>;
  /** With `actor`: the second client's id. */
  readonly actorClientId: string;
  /** With `actor`: a token of the second client, carrying `act: { sub: actor }`. */
  getActorToken(resource: string, scope?: string): Promise<string>;
  /** Stops the server. */
  close(): Promise<void>;
}

/** The part of oidc-provider's API used here (the package ships no type declarations). */
interface ProviderModule {
  default: new (issuer: string, configuration: Record<string, unknown>) => { callback(): RequestListener };
  errors: { InvalidTarget: new (description?: string) => Error };
}

/** Starts oidc-provider with one confidential client allowed the client-credentials grant. */
export async function startOidcProvider(options: OidcProviderOptions): Promise<OidcProvider> {
  const moduleName = "oidc-provider";
  const { default: Provider, errors } = (await import(moduleName)) as ProviderModule;
  const clientId = options.clientId ?? "test-client";
  const clientSecret = options.clientSecret ?? "test-secret";
  const actorClientId = `${clientId}-agent`;
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const provider = new Provider(issuer, {
    clients: [clientId, ...(options.actor ? [actorClientId] : [])].map((id) => ({
      client_id: id,
      client_secret: clientSecret,
      grant_types: ["client_credentials"],
      response_types: [],
      redirect_uris: [],
    })),
    extraTokenClaims: async (_ctx: unknown, token: { clientId?: string }) =>
      options.actor && token.clientId === actorClientId ? { act: { sub: options.actor } } : undefined,
    jwks: { keys: [await signingKey("RS256"), await signingKey("ES256")] },
    ttl: { ClientCredentials: options.accessTokenTtlSeconds ?? 300 },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => undefined,
        useGrantedResource: () => true,
        getResourceServerInfo: (_ctx: unknown, resource: string) => {
          if (!options.resources.includes(resource)) throw new errors.InvalidTarget();
          return {
            scope: (options.scopes ?? ["tools:call"]).join(" "),
            audience: resource,
            accessTokenFormat: "jwt",
            accessTokenTTL: options.accessTokenTtlSeconds ?? 300,
            jwt: { sign: { alg: "ES256" } },
          };
        },
      },
    },
  });
  server.on("request", provider.callback());
  return {
    issuer,
    jwksUri: `${issuer}/jwks`,
    clientId,
    getToken: (resource, scope) => requestToken(issuer, clientId, clientSecret, resource, scope),
    actorClientId,
    getActorToken: (resource, scope) => requestToken(issuer, actorClientId, clientSecret, resource, scope),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((err) => (err ? reject(err) : resolve()));
      }),
  };
}

async function signingKey(alg: "RS256" | "ES256"): Promise<Record<string, unknown>> {
  const { privateKey } = await generateKeyPair(alg, { extractable: true });
  return { ...(await exportJWK(privateKey)), alg, use: "sig", kid: `oidc-${alg.toLowerCase()}` };
}

async function requestToken(issuer: string, clientId: string, secret: string, resource: string, scope?: string): Promise<string> {
  const body = new URLSearchParams({ grant_type: "client_credentials", resource });
  if (scope !== undefined) body.set("scope", scope);
  const res = await fetch(`${issuer}/token`, {
    method: "POST",
    headers: { authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString("base64")}` },
    body,
  });
  const json = (await res.json()) as { access_token?: string; error?: string; error_description?: string };
  if (!res.ok || json.access_token === undefined) {
    throw new Error(`token request failed: ${res.status} ${json.error ?? ""} ${json.error_description ?? ""}`);
  }
  return json.access_token;
}
