import { loadConfig, type LoadConfigOptions } from "./config/load-config.js";
import { PdpError } from "./errors.js";
import { createLogger } from "./log.js";
import { startApp } from "./app.js";
import { isWorker, runWorkers } from "./cluster.js";

/**
 * `mcp-pdp serve`: reads config, starts the PDP, reloads policies on SIGHUP, stops gracefully on
 * SIGTERM/SIGINT. Exits 2 on an invalid configuration, 1 when it cannot start (e.g. invalid policies).
 * Takes a config file, or loadConfig options (`serve --host/--port` are `overrides`).
 */
export async function serve(options: string | Pick<LoadConfigOptions, "file" | "overrides"> = {}): Promise<void> {
  let config;
  try {
    config = loadConfig(typeof options === "string" ? { file: options } : options);
  } catch (err) {
    process.stderr.write(`mcp-pdp: ${PdpError.from(err, "CONFIG_INVALID").message}\n`);
    process.exit(2);
  }
  const logger = createLogger(config.logLevel);
  // workers > 1: this process only supervises; each forked worker runs this function again and serves.
  if (config.workers > 1 && !isWorker) return runWorkers(config, logger);
  let app;
  try {
    app = await startApp(config, logger);
  } catch (err) {
    const e = PdpError.from(err);
    logger.fatal({ code: e.code, message: e.message, err: e.code === "INTERNAL" ? e.cause : undefined }, "mcp-pdp cannot start");
    process.stderr.write(`mcp-pdp: cannot start: ${e.code === "INTERNAL" ? String((e.cause as Error)?.message ?? e.cause) : e.message}\n`);
    process.exit(1);
  }
  const running = app;
  const stop = (signal: string) => {
    logger.info({ signal }, "shutting down");
    running.stop().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGHUP", () => running.reloadPolicies("SIGHUP"));
  process.once("SIGTERM", () => stop("SIGTERM"));
  process.once("SIGINT", () => stop("SIGINT"));
}
