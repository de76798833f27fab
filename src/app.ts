import type { Logger } from "pino";
import { createPinoDecisionLog, type DecisionLog } from "./audit/decision-log.js";
import type { PdpConfig } from "./config/types.js";
import { createAuthorizer } from "./decision/authorizer.js";
import { createRecorder } from "./decision/recorder.js";
import { createRevoker } from "./decision/revoker.js";
import { createSessionService } from "./decision/session-service.js";
import { createStateStores } from "./session/state-stores.js";
import { createTokenVerifier } from "./identity/token-verifier.js";
import { createCedarEngine } from "./policy/cedar-engine.js";
import { loadPolicySet } from "./policy/load-policy-set.js";
import { createCallerAuthenticator } from "./server/caller-auth.js";
import { createGrpcServer, serverCredentials } from "./server/grpc-server.js";
import type { PolicyEngine } from "./policy/types.js";

/** A running PDP. */
export interface App {
  /** The port the gRPC server listens on (useful with port 0). */
  readonly port: number;
  /** The policy engine in force. */
  engine(): PolicyEngine;
  /** Graceful stop, in reverse order of start: health NOT_SERVING → drain → close → flush decisions. */
  stop(): Promise<void>;
}

/** Options for {@link startApp}. */
export interface StartAppOptions {
  /** Where decision records go; default a pino NDJSON log per `config.decisionLog`. */
  readonly decisionLog?: DecisionLog;
}

function bindAddress(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * The composition root: loads and validates the policies (refusing to start on an invalid set),
 * builds the verifier, the decision pipeline and the gRPC server, and starts listening.
 */
export async function startApp(config: PdpConfig, logger: Logger, options: StartAppOptions = {}): Promise<App> {
  const policies = loadPolicySet(config.cedarDir);
  const engine = createCedarEngine(policies);
  const current = () => engine;
  const verifier = createTokenVerifier(config.identity, { operators: config.operators });
  const decisionLog = options.decisionLog ?? createPinoDecisionLog(config.decisionLog);
  const stores = createStateStores(config.store, logger);
  const unsubscribe = await stores.revocations.subscribe(() => verifier.dropCached());
  const decide = createRecorder({ decisionLog, logger, version: () => current().version, now: () => new Date() });
  const common = { verifier, engine: current, stores, sessions: config.sessions, decide };
  const authorizer = createAuthorizer({ ...common, logger, limits: { maxArgumentsBytes: config.maxArgumentsBytes } });
  const sessions = createSessionService(common);
  const revoke = createRevoker({ stores, decide, config });
  const authenticate = createCallerAuthenticator({ mode: config.mode, operators: config.operators, verifier });
  const { server, health } = createGrpcServer({
    authorizer,
    sessions,
    revoke,
    authenticate,
    engine: current,
    logger,
    maxMessageBytes: config.maxMessageBytes,
  });

  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(bindAddress(config.host, config.port), serverCredentials(config.tls), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  health.setServing(true);
  const decisionServices = ["", "mcppdp.v1.AuthorizationService", "mcppdp.v1.SessionService"];
  health.setStatus(decisionServices, stores.healthy());
  stores.onHealthChange((healthy) => health.setStatus(decisionServices, healthy));
  announceRisks(config, logger);
  logger.info(
    { host: config.host, port, mode: config.mode, policyVersion: engine.version, tls: Boolean(config.tls), store: stores.backend },
    "mcp-pdp serving",
  );

  let stopping: Promise<void> | undefined;
  return {
    port,
    engine: current,
    stop() {
      stopping ??= (async () => {
        health.shutdown();
        await new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            server.forceShutdown();
            resolve();
          }, config.shutdownGraceSeconds * 1000);
          server.tryShutdown(() => {
            clearTimeout(timer);
            resolve();
          });
        });
        await decisionLog.flush();
        await unsubscribe();
        await stores.close();
        await verifier.close();
        logger.info("mcp-pdp stopped");
      })();
      return stopping;
    },
  };
}

/** Says, at every start, what this configuration trusts that production would not. */
function announceRisks(config: PdpConfig, logger: Logger): void {
  if (config.mode === "development")
    logger.warn(
      { host: config.host },
      "DEVELOPMENT MODE: loopback only; callers without credentials are accepted; the bundled development issuer is trusted. Never use in production.",
    );
  if (config.mode === "production" && !config.tls && config.allowPlaintext)
    logger.warn("allowPlaintext: the gRPC listener has no TLS; only run behind a TLS-terminating proxy");
}
