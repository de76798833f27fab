/** The listener's settings: address, TLS, message limits, operators, shutdown. Top-level keys of the config. */
import { z } from "zod";

/** TLS for the gRPC listener. */
export const tlsConfigSchema = z
  .strictObject({
    certFile: z.string().min(1).meta({ relativePath: true, description: "The server's certificate chain (PEM)." }),
    keyFile: z.string().min(1).meta({ relativePath: true, description: "The server's private key (PEM)." }),
    caFile: z.string().min(1).optional().meta({ relativePath: true, description: "CA bundle for client certificates (mTLS)." }),
    requireClientCert: z
      .boolean()
      .default(false)
      .meta({ description: "Require a client certificate (mTLS); a PEP is then named by its certificate's URI SAN. Needs caFile." }),
  })
  .refine((tls) => !tls.requireClientCert || tls.caFile !== undefined, { path: ["requireClientCert"], message: "needs tls.caFile" });

/** TLS for the gRPC listener. */
export type TlsConfig = z.output<typeof tlsConfigSchema>;

/** The listener's keys, at the top level of the config. */
export const serverConfigShape = {
  host: z.string().min(1).default("127.0.0.1").meta({ env: "MCP_PDP_HOST", description: "The address to listen on." }),
  port: z.int().min(0).max(65535).default(50051).meta({ env: "MCP_PDP_PORT", description: "The gRPC port (0: any free port)." }),
  tls: tlsConfigSchema.optional().meta({ description: "TLS on the listener; without it the listener is plaintext." }),
  allowPlaintext: z.boolean().default(false).meta({
    env: "MCP_PDP_ALLOW_PLAINTEXT",
    description:
      "Production without TLS on the listener, for a deployment behind a TLS-terminating proxy or mesh sidecar. Logged as a warning at every start. Callers must still authenticate.",
  }),
  maxMessageBytes: z
    .int()
    .min(1024)
    .max(64 * 1024 * 1024)
    .default(256 * 1024)
    .meta({ description: "Largest accepted request message in bytes (Authorize is bounded tighter: two tokens + maxArgumentsBytes + 16 KiB)." }),
  maxArgumentsBytes: z
    .int()
    .min(0)
    .max(16 * 1024 * 1024)
    .default(64 * 1024)
    .meta({ description: "Largest accepted `arguments` object, serialised as JSON, in bytes." }),
  maxInFlight: z
    .int()
    .min(1)
    .max(1_000_000)
    .default(256)
    .meta({ description: "Decisions in flight in one process beyond which the answer is DENY OVERLOADED at once." }),
  operators: z
    .array(z.string().min(1))
    .default([])
    .meta({ env: "MCP_PDP_OPERATORS", description: "Caller identities (JWT `sub` or certificate URI SAN) with operator rights." }),
  shutdownGraceSeconds: z.int().min(0).max(300).default(10).meta({ description: "Seconds to let in-flight calls finish on shutdown." }),
};
