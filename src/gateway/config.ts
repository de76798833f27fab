/**
 * The gateway's configuration (`mcp-pdp gateway --config FILE`): a strict zod schema of its own —
 * the gateway is a separate process from the PDP and shares none of its keys. CLI flags win over
 * the file; the only environment variable read is `MCP_PDP_ADDRESS` (the PDP to dial), as for
 * every client command.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { z } from "zod";
import { PdpError } from "../errors.js";
import { issuerConfigSchema } from "../identity/config.js";
import { DEV_ISSUER } from "../identity/dev-issuer.js";

const LOOPBACK_HOSTS = ["localhost", "127.0.0.1", "[::1]"] as const;
const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|\[::1\]|localhost)$/;

/** The upstream MCP server the gateway fronts: a command (stdio) or a URL (Streamable HTTP). */
const upstreamSchema = z
  .strictObject({
    command: z.string().min(1).optional().meta({ description: "Executable of a stdio MCP server (spawned by the gateway, restarted with backoff when it exits)." }),
    args: z.array(z.string()).default([]).meta({ description: "Its arguments." }),
    env: z.record(z.string(), z.string()).default({}).meta({ description: "Extra environment variables for the child (PATH and HOME are inherited)." }),
    cwd: z.string().min(1).optional().meta({ description: "Its working directory." }),
    url: z.url({ protocol: /^https?$/ }).optional().meta({ description: "A Streamable HTTP MCP endpoint instead of a command." }),
    headers: z
      .record(z.string(), z.string())
      .default({})
      .meta({ description: "Headers sent upstream on every HTTP request (the upstream's own credentials). The client's token is never sent upstream." }),
    restartInitialDelayMs: z.int().min(10).default(250).meta({ description: "First delay before restarting a stdio child that exited; doubles on each failure." }),
    restartMaxDelayMs: z.int().min(10).default(30_000).meta({ description: "Longest delay between restarts." }),
    connectTimeoutMs: z.int().min(100).default(10_000).meta({ description: "How long a request waits for the upstream to be connected before it fails." }),
  })
  .refine((u) => (u.command === undefined) !== (u.url === undefined), { message: "give exactly one of upstream.command and upstream.url" });

const endpointPath = z.string().regex(/^\/[A-Za-z0-9._~/-]*[A-Za-z0-9._~-]$/, "a path such as /mcp (no trailing slash)");

/** One of several upstreams, each at its own path, with its own resource URI. */
const routeSchema = z.strictObject({
  path: endpointPath.meta({ description: "Path of this upstream's MCP endpoint, e.g. /everything/mcp." }),
  resource: z.url().optional().meta({ description: "Its canonical URI (token audience, server id in policies). Default `http://HOST:PORT/PATH`." }),
  defaultPurpose: z.string().min(1).optional().meta({ description: "Purpose when the client sends none (default: the top-level defaultPurpose)." }),
  upstream: upstreamSchema,
});

/**
 * TLS on the gateway's listener and, with `clientCaFile`, the mTLS peer as the agent: a client
 * certificate that verifies against that CA and names one SPIFFE ID (URI SAN `spiffe://…`) names
 * the agent when the bearer has no `act` and no X-Workload-Token is sent. The PDP verifies agents
 * from workload tokens, so the gateway presents the peer as a short-lived JWT-SVID (sub = the
 * SPIFFE ID) signed by `peerAgentSigner` — an issuer the PDP trusts as a workload issuer for that
 * trust domain — or, in development mode, by the development issuer.
 */
const tlsSchema = z.strictObject({
  certFile: z.string().min(1).meta({ relativePath: true, description: "The gateway's server certificate (PEM, with its chain)." }),
  keyFile: z.string().min(1).meta({ relativePath: true, description: "Its private key (PEM)." }),
  clientCaFile: z.string().min(1).optional().meta({
    relativePath: true,
    description: "CA certificates (PEM) that client certificates must chain to. Set: clients are asked for a certificate, and a verified one's SPIFFE ID may name the agent.",
  }),
  requireClientCert: z.boolean().default(false).meta({
    description: "With clientCaFile: refuse, at the TLS handshake, a client without a certificate that verifies. False: such a client is served, with no peer identity.",
  }),
  peerAgentSigner: z
    .strictObject({
      issuer: z.url().meta({ description: "`iss` of the JWT-SVIDs the gateway signs for verified peers (a workload issuer the PDP trusts for their trust domains)." }),
      keyFile: z.string().min(1).meta({ relativePath: true, description: "Its private key: a JWK (JSON) with `d`." }),
      alg: z.enum(["ES256", "ES384", "RS256", "PS256", "EdDSA"]).default("ES256").meta({ description: "Signing algorithm." }),
      kid: z.string().min(1).optional().meta({ description: "`kid` in the header (default: the JWK's own)." }),
      audience: z.string().min(1).default("mcp-pdp").meta({ description: "`aud` of the signed tokens (the PDP)." }),
      ttlSeconds: z.int().min(30).max(3600).default(300).meta({ description: "Lifetime of each signed token (a new one a minute before it ends)." }),
    })
    .optional()
    .meta({ description: "Signs the peer's JWT-SVID (production mode needs it with clientCaFile; development mode uses the development issuer)." }),
});

/** The gateway configuration as written in the file. */
export const gatewayConfigSchema = z
  .strictObject({
    mode: z.enum(["development", "production"]).default("development").meta({
      description:
        "`development`: mints its own agent token from the development issuer and trusts that issuer for user tokens (loopback only). `production`: needs agent.workloadToken(File) and userIssuers.",
    }),
    host: z.string().min(1).default("127.0.0.1").meta({ description: "Listen on this host." }),
    developmentAnyHost: z.boolean().default(false).meta({
      description:
        "Development mode on a non-loopback host — only inside a container whose port is published on the host's loopback (docker-compose dev profile). The development issuer's key is public: anyone who reaches the port can mint tokens.",
    }),
    port: z.int().min(0).max(65535).default(8080).meta({ description: "Listen on this port (0: any free one)." }),
    path: endpointPath.default("/mcp").meta({ description: "Path of the MCP endpoint (with `upstream`)." }),
    resource: z.url().optional().meta({
      description:
        "This gateway's canonical URI (RFC 8707 resource): user tokens must name it in `aud`, and it is the server id policies see. Default `http://HOST:PORT/PATH`.",
    }),
    authorizationServers: z.array(z.url()).default([]).meta({
      description: "Authorization servers named in the protected-resource metadata. Default in development: the development issuer.",
    }),
    scopesSupported: z.array(z.string().min(1)).default([]).meta({ description: "`scopes_supported` in the protected-resource metadata." }),
    allowedHosts: z.array(z.string().min(1)).default([...LOOPBACK_HOSTS]).meta({
      description: "Host names (without port) accepted in the `Host` header (DNS-rebinding protection). Default loopback names.",
    }),
    allowedOrigins: z.array(z.string().min(1)).default([]).meta({
      description: "Origins accepted in the `Origin` header when one is sent. Default: origins whose host is in allowedHosts.",
    }),
    maxBodyBytes: z.int().min(1024).default(4 * 1024 * 1024).meta({ description: "Largest accepted request body." }),
    userIssuers: z.array(issuerConfigSchema).default([]).meta({ description: "Issuers of user access tokens the gateway accepts (verified before anything else). Development: the development issuer." }),
    pdp: z
      .strictObject({
        address: z.string().min(1).optional().meta({ description: "The PDP's gRPC address (default: MCP_PDP_ADDRESS, else 127.0.0.1:50051)." }),
        callerToken: z.string().min(1).optional().meta({ description: "The gateway's own credential for the PDP (JWT, aud mcp-pdp, sub = resource)." }),
        callerTokenFile: z.string().min(1).optional().meta({ relativePath: true, description: "A file holding callerToken (read at every call, so it can be rotated)." }),
        timeoutMs: z.int().min(10).default(1000).meta({ description: "Deadline of each Authorize / FilterTools call." }),
        openSessionTimeoutMs: z.int().min(10).default(2000).meta({ description: "Deadline of OpenSession." }),
      })
      .prefault({}),
    agent: z
      .strictObject({
        workloadToken: z.string().min(1).optional().meta({ description: "The agent workload token the gateway presents for stock clients (JWT-SVID)." }),
        workloadTokenFile: z.string().min(1).optional().meta({ relativePath: true, description: "A file holding it (re-read at every call)." }),
        devAgent: z.string().min(1).optional().meta({ description: "Development: the SPIFFE ID the minted agent token names (default the research assistant)." }),
      })
      .prefault({}),
    clientSessions: z
      .strictObject({
        max: z.int().min(1).default(200).meta({
          description:
            "Most client sessions (MCP `Mcp-Session-Id`, opened by `initialize`) kept at once, per endpoint; an `initialize` over it is refused with 503. Each holds its subscriptions and, for an HTTP upstream, its own upstream connection.",
        }),
        idleTimeoutSeconds: z.int().min(1).default(600).meta({ description: "A client session with no request and no open stream for this long is closed (the client then gets 404 and initializes again)." }),
        stdioProcesses: z.int().min(0).default(16).meta({
          description:
            "Per stdio endpoint: most children started for client sessions that declared sampling or elicitation (each such session gets a child of its own, so that the child's requests are that client's). Past it a session shares the common child, whose server→client requests are answered with an error. 0: never.",
        }),
      })
      .prefault({})
      .meta({ description: "Per-client sessions: what carries subscriptions, notifications and server→client requests." }),
    listDenied: z.enum(["hide", "show"]).default("hide").meta({
      description:
        "`hide`: tools/list shows only the tools the caller may call (a client that checks the list says \"tool not found\" for the others; a call that reaches the gateway still answers its denial reason). `show`: refused tools stay listed, their description prefixed with the refusal and `_meta` carrying it, so that a call reaches the gateway and the user sees the reason.",
    }),
    defaultPurpose: z.string().min(1).default("research").meta({ description: "Purpose when the client sends no `X-Task-Purpose` header." }),
    sessionTtlSeconds: z.int().min(1).optional().meta({ description: "Requested lifetime of the task sessions the gateway opens (the PDP caps it)." }),
    tls: tlsSchema.optional().meta({ description: "TLS on the listener, and the mTLS peer's SPIFFE ID as the agent (see the README's gateway section)." }),
    upstream: upstreamSchema.optional().meta({ description: "The MCP server behind the gateway (at `path`, as `resource`)." }),
    upstreams: z.array(routeSchema).min(1).optional().meta({ description: "Several MCP servers, each at its own path (instead of `upstream`)." }),
  })
  .superRefine((c, ctx) => {
    if ((c.upstream === undefined) === (c.upstreams === undefined)) ctx.addIssue({ code: "custom", path: ["upstream"], message: "give exactly one of upstream and upstreams" });
    const paths = (c.upstreams ?? []).map((r) => r.path);
    for (const dup of new Set(paths.filter((p, i) => paths.indexOf(p) !== i))) ctx.addIssue({ code: "custom", path: ["upstreams"], message: `path ${dup} is used twice` });
    if (c.mode === "development") {
      if (!LOOPBACK.test(c.host) && !c.developmentAnyHost)
        ctx.addIssue({ code: "custom", path: ["host"], message: `development mode listens on loopback only, not on "${c.host}" (developmentAnyHost: true inside a container only)` });
      return;
    }
    if (c.tls?.clientCaFile && !c.tls.peerAgentSigner)
      ctx.addIssue({ code: "custom", path: ["tls", "peerAgentSigner"], message: "production mode needs tls.peerAgentSigner with tls.clientCaFile (the PDP verifies the peer's agent from the token it signs)" });
    if (!c.agent.workloadToken && !c.agent.workloadTokenFile) ctx.addIssue({ code: "custom", path: ["agent"], message: "production mode needs agent.workloadToken or agent.workloadTokenFile" });
    if (c.userIssuers.length === 0) ctx.addIssue({ code: "custom", path: ["userIssuers"], message: "production mode needs userIssuers" });
    if (c.userIssuers.some((i) => i.issuer === DEV_ISSUER)) ctx.addIssue({ code: "custom", path: ["userIssuers"], message: "the development issuer is refused outside development mode" });
    if (c.upstream && !c.resource) ctx.addIssue({ code: "custom", path: ["resource"], message: "production mode needs resource (the gateway's public canonical URI)" });
    for (const [i, r] of (c.upstreams ?? []).entries())
      if (!r.resource) ctx.addIssue({ code: "custom", path: ["upstreams", i, "resource"], message: "production mode needs each upstream's resource (its public canonical URI)" });
  });

/** The gateway's configuration, parsed. */
export type GatewayConfig = z.output<typeof gatewayConfigSchema>;
/** One upstream's connection settings. */
export type UpstreamConfig = z.output<typeof upstreamSchema>;

/** One MCP endpoint of the gateway: a path, its resource URI (when configured), its upstream. */
export interface GatewayRoute {
  readonly path: string;
  readonly resource?: string | undefined;
  readonly defaultPurpose: string;
  readonly upstream: UpstreamConfig;
}

/** The gateway's endpoints: the single `upstream` at `path`, or each of `upstreams`. */
export function routesOf(config: GatewayConfig): GatewayRoute[] {
  if (config.upstream) return [{ path: config.path, resource: config.resource, defaultPurpose: config.defaultPurpose, upstream: config.upstream }];
  return (config.upstreams ?? []).map((r) => ({ path: r.path, resource: r.resource, defaultPurpose: r.defaultPurpose ?? config.defaultPurpose, upstream: r.upstream }));
}

/** Options for {@link loadGatewayConfig}. */
export interface LoadGatewayConfigOptions {
  /** A JSON file. */
  readonly file?: string;
  /** Values that win over the file (CLI flags); `upstream` replaces the file's upstream. */
  readonly overrides?: Record<string, unknown>;
  readonly env?: NodeJS.ProcessEnv;
}

/** Splits a command line on blanks, honouring single and double quotes (no shell is involved). */
export function splitCommand(line: string): string[] {
  const words: string[] = [];
  const re = /"((?:[^"\\]|\\.)*)"|'([^']*)'|(\S+)/g;
  for (let m = re.exec(line); m; m = re.exec(line)) words.push(m[1] !== undefined ? m[1].replace(/\\(.)/g, "$1") : (m[2] ?? m[3]!));
  return words;
}

/**
 * Reads the file (if any), applies the overrides and parses. Relative file names are resolved
 * against the file's directory. Throws PdpError CONFIG_INVALID with one `config: …` line per problem.
 */
export function loadGatewayConfig(options: LoadGatewayConfigOptions = {}): GatewayConfig {
  let raw: Record<string, unknown> = {};
  const baseDir = options.file ? path.dirname(path.resolve(options.file)) : process.cwd();
  if (options.file) {
    try {
      raw = JSON.parse(readFileSync(options.file, "utf8")) as Record<string, unknown>;
    } catch (err) {
      throw new PdpError("CONFIG_INVALID", `config: cannot read ${options.file}: ${(err as Error).message}`);
    }
  }
  const overrides = options.overrides ?? {};
  const merged: Record<string, unknown> = { ...raw, ...overrides };
  // --upstream-command / --upstream-url replace whatever upstream(s) the file names.
  if (overrides.upstream !== undefined) delete merged.upstreams;
  for (const key of ["pdp", "agent", "clientSessions", "tls"] as const) {
    if (overrides[key] !== undefined) merged[key] = { ...(raw[key] as object | undefined), ...(overrides[key] as object) };
  }
  const result = gatewayConfigSchema.safeParse(merged);
  if (!result.success) {
    throw new PdpError(
      "CONFIG_INVALID",
      result.error.issues.map((i) => `config: ${i.path.length ? `${i.path.join(".")}: ` : ""}${i.message}`).join("\n"),
    );
  }
  const config = result.data;
  const env = options.env ?? process.env;
  const resolve = (p: string | undefined) => (p === undefined ? undefined : path.resolve(baseDir, p));
  return {
    ...config,
    pdp: {
      ...config.pdp,
      address: config.pdp.address ?? (env.MCP_PDP_ADDRESS || "127.0.0.1:50051"),
      ...(config.pdp.callerTokenFile && { callerTokenFile: resolve(config.pdp.callerTokenFile) }),
    },
    userIssuers: config.userIssuers.map((i) => (i.jwksFile ? { ...i, jwksFile: resolve(i.jwksFile)! } : i)),
    agent: { ...config.agent, ...(config.agent.workloadTokenFile && { workloadTokenFile: resolve(config.agent.workloadTokenFile) }) },
    ...(config.tls && {
      tls: {
        ...config.tls,
        certFile: resolve(config.tls.certFile)!,
        keyFile: resolve(config.tls.keyFile)!,
        ...(config.tls.clientCaFile && { clientCaFile: resolve(config.tls.clientCaFile) }),
        ...(config.tls.peerAgentSigner && { peerAgentSigner: { ...config.tls.peerAgentSigner, keyFile: resolve(config.tls.peerAgentSigner.keyFile)! } }),
      },
    }),
    authorizationServers: config.authorizationServers.length > 0 || config.mode !== "development" ? config.authorizationServers : [DEV_ISSUER],
  };
}
