/**
 * Several PDP workers on one port (node `cluster`): the primary forks `workers` processes, each
 * of which runs the whole PDP (`startApp`) with its own preparsed policies and binds the same
 * address — the primary owns the listening socket and hands connections to the workers in turn.
 * The primary holds no state and makes no decisions: it forwards SIGHUP (policy reload) and
 * SIGTERM/SIGINT (graceful stop) to every worker, and replaces a worker that dies.
 *
 * Sessions, revocations, approvals and the audit chain must be shared, so configuration
 * validation refuses `workers > 1` without the Redis store.
 */
import cluster, { type Worker } from "node:cluster";
import type { Logger } from "pino";
import type { PdpConfig } from "./config/types.js";

/** True in a process that `runWorkers` forked (it should simply serve). */
export const isWorker = cluster.isWorker;

/** How long a replaced worker waits before it is forked again, so a crash loop cannot spin. */
const RESTART_DELAY_MS = 1000;

/**
 * Runs the primary: forks `config.workers` workers and supervises them until SIGTERM/SIGINT.
 * Logs `"mcp-pdp workers serving"` with the port once every worker listens. A worker that exits
 * before it ever listened (invalid policies, port in use) stops the whole cluster with its exit
 * code; one that dies later is replaced.
 */
export function runWorkers(config: PdpConfig, logger: Logger): void {
  const listening = new Set<number>();
  // A worker listens on gRPC, then (when enabled) on HTTP: it serves once both are bound.
  const listeners = config.http.enabled ? 2 : 1;
  const bound = new Map<number, number[]>();
  let everyoneUp = false;
  let stopping = false;
  let exitCode = 0;

  const fork = (): Worker => {
    const worker = cluster.fork({ MCP_PDP_WORKER: "1" });
    worker.on("listening", (address) => {
      const ports = [...(bound.get(worker.id) ?? []), address.port];
      bound.set(worker.id, ports);
      if (ports.length < listeners) return;
      listening.add(worker.id);
      if (!everyoneUp && listening.size === config.workers) {
        everyoneUp = true;
        const [port, httpPort] = ports;
        logger.info({ host: config.host, port, ...(httpPort !== undefined && { httpPort }), workers: config.workers }, "mcp-pdp workers serving");
      }
    });
    return worker;
  };

  const workers = () => Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
  const stopAll = (signal: NodeJS.Signals, code: number) => {
    if (stopping) return;
    stopping = true;
    exitCode = code;
    logger.info({ signal, workers: workers().length }, "stopping workers");
    for (const w of workers()) w.process.kill(signal);
    if (workers().length === 0) process.exit(exitCode);
  };

  cluster.on("exit", (worker, code, signal) => {
    const wasListening = listening.delete(worker.id);
    bound.delete(worker.id);
    if (stopping) {
      if (code !== 0 && code !== null) exitCode = exitCode || code;
      if (workers().length === 0) process.exit(exitCode);
      return;
    }
    if (!wasListening) {
      logger.error({ worker: worker.process.pid, code, signal }, "a worker exited before serving; stopping");
      stopAll("SIGTERM", typeof code === "number" && code !== 0 ? code : 1);
      return;
    }
    logger.error({ worker: worker.process.pid, code, signal }, `worker died; starting another in ${RESTART_DELAY_MS} ms`);
    setTimeout(() => {
      if (!stopping) fork();
    }, RESTART_DELAY_MS);
  });

  process.on("SIGHUP", () => workers().forEach((w) => w.process.kill("SIGHUP")));
  process.once("SIGTERM", () => stopAll("SIGTERM", 0));
  process.once("SIGINT", () => stopAll("SIGTERM", 0));

  logger.info({ workers: config.workers }, "starting workers");
  for (let i = 0; i < config.workers; i++) fork();
}
