import { loadGatewayConfig, splitCommand } from "../gateway/config.js";
import { startGateway } from "../gateway/gateway.js";
import { createLogger } from "../log.js";
import type { CliIo } from "./cli-io.js";
import { UsageError } from "./usage-error.js";

/** The options of `mcp-pdp gateway`. */
export interface GatewayOptions {
  readonly upstreamCommand?: string | undefined;
  readonly upstreamUrl?: string | undefined;
  readonly host?: string | undefined;
  readonly port?: number | undefined;
  readonly pdp?: string | undefined;
  readonly config?: string | undefined;
  readonly resource?: string | undefined;
  readonly purpose?: string | undefined;
  readonly logLevel?: string | undefined;
  readonly listDenied?: "hide" | "show" | undefined;
}

/**
 * `mcp-pdp gateway`: starts the gateway and keeps running until SIGTERM/SIGINT (resolves to -1).
 * Flags win over the config file; `--upstream-command` / `--upstream-url` replace its upstream.
 */
export async function gateway(o: GatewayOptions, io: CliIo): Promise<number> {
  if (o.upstreamCommand !== undefined && o.upstreamUrl !== undefined) throw new UsageError("give one of --upstream-command and --upstream-url");
  if (o.upstreamCommand === undefined && o.upstreamUrl === undefined && o.config === undefined)
    throw new UsageError("give --upstream-command \"CMD ARGS\" or --upstream-url URL (or --config FILE with an upstream)");
  let upstream: Record<string, unknown> | undefined;
  if (o.upstreamCommand !== undefined) {
    const [command, ...args] = splitCommand(o.upstreamCommand);
    if (!command) throw new UsageError("--upstream-command is empty");
    upstream = { command, args };
  } else if (o.upstreamUrl !== undefined) upstream = { url: o.upstreamUrl };
  const config = loadGatewayConfig({
    ...(o.config !== undefined && { file: o.config }),
    overrides: {
      ...(upstream && { upstream }),
      ...(o.host !== undefined && { host: o.host }),
      ...(o.port !== undefined && { port: o.port }),
      ...(o.resource !== undefined && { resource: o.resource }),
      ...(o.purpose !== undefined && { defaultPurpose: o.purpose }),
      ...(o.listDenied !== undefined && { listDenied: o.listDenied }),
      ...(o.pdp !== undefined && { pdp: { address: o.pdp } }),
    },
  });
  const logger = createLogger(o.logLevel ?? "info");
  const running = await startGateway(config, { logger });
  for (const r of running.routes) io.out(`mcp-pdp gateway: ${r.url} (resource ${r.resource}; metadata ${r.resourceMetadataUrl})\n`);
  const stop = (signal: string) => {
    logger.info({ signal }, "gateway shutting down");
    running.close().then(
      () => process.exit(0),
      () => process.exit(1),
    );
  };
  process.once("SIGTERM", () => stop("SIGTERM"));
  process.once("SIGINT", () => stop("SIGINT"));
  return -1;
}
