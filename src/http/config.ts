/** The PDP's HTTP listener (AuthZEN, and the routes other modules mount on it). The `http` key of the config. */
import { z } from "zod";

/** The default HTTP port. */
export const DEFAULT_HTTP_PORT = 50052;

/** The HTTP listener's keys as written; `enabled` and `host` have defaults computed from `mode` and `host` ({@link settleHttp}). */
export const httpConfigSchema = z.strictObject({
  enabled: z.boolean().optional().meta({
    env: "MCP_PDP_HTTP_ENABLED",
    description: "Serve HTTP (AuthZEN). Default: on in development mode; in production only when http.port is set.",
  }),
  host: z.string().min(1).optional().meta({ env: "MCP_PDP_HTTP_HOST", description: "The address the HTTP listener binds. Default: the top-level host." }),
  port: z
    .int()
    .min(0)
    .max(65535)
    .optional()
    .meta({ env: "MCP_PDP_HTTP_PORT", description: "The HTTP port (0: any free port). Default 50052, or 0 when the gRPC port is 0." }),
  baseUrl: z
    .url({ protocol: /^https?$/ })
    .optional()
    .meta({ description: "The PDP identifier published as `policy_decision_point` in the AuthZEN metadata. Default: the listener's own URL." }),
  maxBodyBytes: z
    .int()
    .min(1024)
    .max(16 * 1024 * 1024)
    .default(64 * 1024)
    .meta({ description: "Largest accepted request body in bytes; a larger one is refused with 413 before it is read." }),
  claimAsserters: z
    .array(z.string().min(1))
    .default([])
    .meta({
      env: "MCP_PDP_HTTP_CLAIM_ASSERTERS",
      description:
        "Caller identities (JWT `sub` or certificate URI SAN) trusted to assert the user's and the agent's claims in AuthZEN requests instead of sending their tokens; policy sees `context.claims_asserted`.",
    }),
  maxEvaluations: z.int().min(1).max(1000).default(64).meta({ description: "Most evaluations in one AuthZEN Access Evaluations request (more: 400)." }),
  requestTimeoutMs: z
    .int()
    .min(1000)
    .max(300_000)
    .default(30_000)
    .meta({ description: "Time allowed to receive a whole request (headers and body) before the connection is closed." }),
});

/** The HTTP listener's settings as written. */
export type HttpConfigInput = z.output<typeof httpConfigSchema>;

/** The HTTP listener's settings, with the computed defaults settled. */
export interface HttpConfig extends Omit<HttpConfigInput, "enabled" | "host" | "port"> {
  readonly enabled: boolean;
  readonly host: string;
  readonly port: number;
}

/**
 * The computed defaults: on in development (or when a port is set), bound where the gRPC listener
 * is, on 50052 — or on any free port when the gRPC listener asks for one (`port: 0`), so that
 * PDPs started on free ports never contend for the fixed HTTP port.
 */
export function settleHttp(http: HttpConfigInput, listener: { readonly mode: "development" | "production"; readonly host: string; readonly port: number }): HttpConfig {
  return {
    ...http,
    enabled: http.enabled ?? (listener.mode === "development" || http.port !== undefined),
    host: http.host ?? listener.host,
    port: http.port ?? (listener.port === 0 ? 0 : DEFAULT_HTTP_PORT),
  };
}
