import type { Logger } from "pino";
import { createAuditLog, type AuditSinkEntry } from "./audit/audit-log.js";
import { MemoryAuditSink } from "./audit/memory-audit-sink.js";
import { MemoryPolicyArchive, RedisPolicyArchive, type PolicyArchive } from "./audit/policy-archive.js";
import { createPinoAuditSink } from "./audit/pino-audit-sink.js";
import { RedisAuditSink } from "./audit/redis-audit-sink.js";
import type { AuditLog } from "./audit/types.js";
import type { PdpConfig } from "./config/types.js";
import { createAdmission } from "./decision/admission.js";
import { createDecisionCore } from "./decision/decision-core.js";
import { createAuthzenRoute } from "./http/authzen-route.js";
import { startHttpServer, type HttpServer, type RouteHandler } from "./http/http-server.js";
import { createCallerResolver } from "./identity/caller-resolver.js";
import { createTokenVerifier } from "./identity/token-verifier.js";
import type { TokenVerifier } from "./identity/types.js";
import type { LoadedPolicySet } from "./policy/load-policy-set.js";
import { createPolicyManager, type PolicyManager, type ReloadResult } from "./policy/policy-manager.js";
import { createShadowPolicy, type ShadowPolicy } from "./policy/shadow-policy.js";
import type { PolicyEngine } from "./policy/types.js";
import type { HistoryAppend } from "./decision/types.js";
import type { ScriptAttachment } from "./redis/script.js";
import { createCallerAuthenticator } from "./server/caller-auth.js";
import { createGrpcServer, serverCredentials } from "./server/grpc-server.js";
import { createStateStores, type StateStores } from "./session/state-stores.js";
import { createTelemetry, type Telemetry } from "./telemetry/telemetry.js";
import type { SpanExporter } from "@opentelemetry/sdk-trace-node";

/** A running PDP. */
export interface App {
  /** The port the gRPC server listens on (useful with port 0). */
  readonly port: number;
  /** The port the HTTP listener (AuthZEN) listens on; undefined when `http.enabled` is false. */
  readonly httpPort: number | undefined;
  /** The policy engine in force. */
  engine(): PolicyEngine;
  /** Reloads the policy directory now (SIGHUP); a refused version leaves the current one in force. */
  reloadPolicies(reason: string): ReloadResult;
  /** The shadow policy set (`policies.shadowDir`), when configured; SIGHUP reloads it with the live one. */
  readonly shadow: ShadowPolicy | undefined;
  /** The decision audit (records, queries, counters). */
  readonly audit: AuditLog;
  /**
   * Metrics, readiness and the HTTP routes `/metrics`, `/healthz`, `/readyz`
   * (`telemetry.handleRequest(req, res)` answers them and returns false for any other path), and
   * the tracer when tracing is on (an HTTP door wraps each request with `serverSpan(tracing, …)`).
   */
  readonly telemetry: Pick<Telemetry, "handleRequest" | "readiness" | "metrics" | "tracing">;
  /** Graceful stop, in reverse order of start: health NOT_SERVING → drain → flush audit → close stores. */
  stop(): Promise<void>;
}

/** Options for {@link startApp}. */
export interface StartAppOptions {
  /** More audit sinks besides the configured ones (tests use them to see every record, or to fail). */
  readonly extraAuditSinks?: readonly AuditSinkEntry[];
  /** Export spans here (tests: the SDK's InMemorySpanExporter); turns tracing on. */
  readonly spanExporter?: SpanExporter;
}

function bindAddress(host: string, port: number): string {
  return host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
}

/** The configured audit sinks; the durable ones (memory, redis) are what `audit.required` waits for. */
function auditSinks(config: PdpConfig, stores: StateStores): AuditSinkEntry[] {
  const a = config.audit;
  return a.sinks.map((name): AuditSinkEntry => {
    if (name === "pino") return { sink: createPinoAuditSink({ target: config.decisionLog }), required: false };
    if (name === "memory") return { sink: new MemoryAuditSink({ capacity: a.memoryCapacity }), required: true };
    const redis = config.store.redis!;
    // With audit.required, the sink's script carries an ALLOW's history append where the store allows it.
    const attached = a.required ? stores.carriedAppend?.script : undefined;
    const sink = new RedisAuditSink({
      ...(attached && { attached }),
      client: stores.redis!,
      keyPrefix: redis.keyPrefix,
      stream: a.redisStream,
      maxLen: a.redisMaxLen,
      retentionMs: a.redisRetentionMs,
    });
    return { sink, required: true };
  });
}

/**
 * With `audit.required`, an ALLOW's history append rides in its durable record's write (one Redis
 * round trip, both or neither) when the store can attach it (standalone or Sentinel Redis, no
 * replica confirmation) and the audit's one required sink is the Redis stream on the store's own
 * connection, built to carry it. Otherwise undefined: the append, then the record (two steps).
 */
export function carriedHistory(config: PdpConfig, stores: StateStores, audit: AuditLog): ((append: HistoryAppend) => ScriptAttachment) | undefined {
  const carried = stores.carriedAppend;
  if (!config.audit.required || !carried || !audit.carriesAttachments) return undefined;
  return (append) => carried.attach(append.sessionId, append.call);
}

/**
 * The composition root: loads and validates the policies (refusing to start on an invalid set),
 * builds the stores, the audit, the verifier, the decision pipeline and the gRPC server, and
 * starts listening.
 */
export async function startApp(config: PdpConfig, logger: Logger, options: StartAppOptions = {}): Promise<App> {
  const stores = createStateStores(config.store, logger, config.novelty);
  const archive: PolicyArchive = stores.redis
    ? new RedisPolicyArchive({ client: stores.redis, keyPrefix: config.store.redis!.keyPrefix })
    : new MemoryPolicyArchive();
  // Keep the texts of every version in force, so `audit explain` can show them later. A write
  // that fails (e.g. Redis not connected yet at start) is retried when the store is reachable.
  const unarchived = new Map<string, LoadedPolicySet>();
  const archiveVersion = (loaded: LoadedPolicySet) => {
    unarchived.delete(loaded.version);
    if (!stores.healthy()) return void unarchived.set(loaded.version, loaded);
    archive.put(loaded.version, loaded.sources).catch((err: unknown) => {
      unarchived.set(loaded.version, loaded);
      logger.warn({ err: (err as Error).message, version: loaded.version }, "policy archive write failed; will retry when the store is reachable");
    });
  };
  stores.onHealthChange((healthy) => {
    if (healthy) for (const loaded of [...unarchived.values()]) archiveVersion(loaded);
  });
  let policies: PolicyManager;
  try {
    policies = createPolicyManager({ dir: config.cedarDir, logger, watch: true, ...config.policies, onLoad: archiveVersion });
  } catch (err) {
    await stores.close();
    throw err;
  }
  const current = () => policies.current();
  // The shadow set: evaluated beside the live one, never changing an answer; archived like it, so its records can be explained.
  const { shadowDir } = config.policies;
  const shadow =
    shadowDir === undefined
      ? undefined
      : createShadowPolicy({
          dir: shadowDir,
          logger,
          watch: true,
          quietMs: config.policies.quietMs,
          settleTimeoutMs: config.policies.settleTimeoutMs,
          requireManifest: config.policies.requireManifest,
          onLoad: archiveVersion,
        });
  const verifier = createTokenVerifier(config.identity, { operators: config.operators });
  logIdpChanges(verifier, logger);
  const unsubscribe = subscribeRevocations(stores, () => verifier.dropCached(), logger);
  const audit = createAuditLog({
    sinks: [...auditSinks(config, stores), ...(options.extraAuditSinks ?? [])],
    logger,
    bufferSize: config.audit.bufferSize,
    bufferBytes: config.audit.bufferBytes,
    durableTimeoutMs: config.audit.durableTimeoutMs,
  });

  const carryAppend = carriedHistory(config, stores, audit);
  const { identity, sessions } = config;
  const admission = createAdmission(config.maxInFlight);
  const telemetry = await createTelemetry({
    metrics: config.metrics,
    tracing: config.tracing,
    ...(options.spanExporter && { spanExporter: options.spanExporter }),
    parts: {
      verifier,
      policy: current,
      state: stores.reader,
      sessions: stores.sessions,
      revocations: stores.revocations,
      approvals: stores.approvals,
      audit,
      ...(stores.novelty && { novelty: stores.novelty }),
    },
    audit,
    policyStatus: () => policies.status(),
    ...(shadow && { shadowStatus: () => shadow.status() }),
    admission,
    store: stores,
    logger,
  });
  const core = createDecisionCore({
    ...telemetry.parts,
    definitions: stores.definitions,
    ...(carryAppend && { carryAppend }),
    admission,
    ...(telemetry.observer && { observer: telemetry.observer }),
    ...(shadow && { shadow: () => shadow.current() }),
    settings: {
      limits: { maxArgumentsBytes: config.maxArgumentsBytes },
      sessions: {
        required: sessions.required,
        defaultTtlMs: sessions.defaultTtlSeconds * 1000,
        maxTtlMs: sessions.maxTtlSeconds * 1000,
        maxRequestedItems: sessions.maxRequestedItems,
        approvalTtlMs: sessions.approvalTtlSeconds * 1000,
      },
      auditRequired: config.audit.required,
      revocationTtlMs: (Math.max(identity.maxTokenLifetimeSeconds, sessions.maxTtlSeconds) + identity.clockSkewSeconds) * 1000,
      pdpAudience: identity.pdpAudience,
      maxInFlight: config.maxInFlight,
      claimAsserters: config.http.claimAsserters,
    },
  });
  const callerAuth = { mode: config.mode, operators: config.operators, verifier: telemetry.parts.verifier };
  const { server, health } = createGrpcServer({
    core,
    audit,
    archive,
    policy: current,
    authenticate: createCallerAuthenticator(callerAuth),
    logger,
    maxMessageBytes: config.maxMessageBytes,
    // Two tokens, the arguments and the short fields, with room to spare.
    maxAuthorizeBytes: 2 * 16 * 1024 + config.maxArgumentsBytes + 16 * 1024,
    ...(telemetry.tracing && { tracing: telemetry.tracing }),
  });

  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(bindAddress(config.host, config.port), serverCredentials(config.tls), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  let http: HttpServer | undefined;
  try {
    http = await startHttp(config, logger, [
      // The HTTP listener's routes, tried in order: /metrics, /healthz, /readyz, then AuthZEN.
      telemetry.handleRequest,
      createAuthzenRoute({
        core,
        resolveCaller: createCallerResolver(callerAuth),
        logger,
        maxBodyBytes: config.http.maxBodyBytes,
        maxEvaluations: config.http.maxEvaluations,
        baseUrl: () => config.http.baseUrl?.replace(/\/+$/, "") ?? listenerUrl(http!, config.http.host),
        tracing: telemetry.tracing,
      }),
    ]);
  } catch (err) {
    server.forceShutdown();
    policies.close();
    shadow?.close();
    await audit.close();
    await unsubscribe();
    await stores.close();
    await verifier.close();
    throw err;
  }
  // Decision services follow readiness (policies, store, IdPs); the others serve while the process runs.
  const { readiness } = telemetry;
  health.setServing(true);
  const decisionServices = ["", "mcppdp.v1.AuthorizationService", "mcppdp.v1.SessionService"];
  readiness.onChange((r) => health.setStatus(decisionServices, r.ready));
  stores.onHealthChange(() => readiness.refresh());
  verifier.onIdpChange(() => readiness.refresh());
  readiness.started();
  health.setStatus(decisionServices, readiness.report().ready);
  announceRisks(config, logger);
  const announced = {
    host: config.host,
    port,
    ...(http && { httpPort: http.port }),
    mode: config.mode,
    policyVersion: current().version,
    tls: Boolean(config.tls),
    store: stores.backend,
    audit: config.audit.sinks,
  };
  // A store still connecting at start gets a moment; one that does not answer is said once, plainly.
  if (await storeAnswers(stores, STORE_START_GRACE_MS)) logger.info(announced, "mcp-pdp serving");
  else logger.warn(announced, "mcp-pdp serving, store unreachable — decisions DENY STORE_UNAVAILABLE until it answers");

  let stopping: Promise<void> | undefined;
  return {
    port,
    httpPort: http?.port,
    engine: current,
    reloadPolicies: (reason) => {
      shadow?.reload(reason);
      return policies.reload(reason);
    },
    shadow,
    audit,
    telemetry,
    stop() {
      stopping ??= (async () => {
        readiness.stopping();
        health.shutdown();
        const grpcStopped = new Promise<void>((resolve) => {
          const timer = setTimeout(() => {
            server.forceShutdown();
            resolve();
          }, config.shutdownGraceSeconds * 1000);
          server.tryShutdown(() => {
            clearTimeout(timer);
            resolve();
          });
        });
        await Promise.all([grpcStopped, http?.close(config.shutdownGraceSeconds * 1000)]);
        policies.close();
    shadow?.close();
        await audit.close();
        await unsubscribe();
        await stores.close();
        await verifier.close();
        await telemetry.close();
        logger.info("mcp-pdp stopped");
      })();
      return stopping;
    },
  };
}

/** How long the start waits for a store that is still connecting before it says "unreachable". */
const STORE_START_GRACE_MS = 1000;

/** True once the store is reachable, false if it is not within `ms`. */
function storeAnswers(stores: StateStores, ms: number): Promise<boolean> {
  if (stores.healthy()) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(stores.healthy()), ms);
    stores.onHealthChange((healthy) => {
      if (!healthy) return;
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** Starts the HTTP listener when `http.enabled` (on the gRPC listener's TLS, if any). */
async function startHttp(config: PdpConfig, logger: Logger, routes: readonly RouteHandler[]): Promise<HttpServer | undefined> {
  if (!config.http.enabled) return undefined;
  const { host, port, requestTimeoutMs } = config.http;
  return startHttpServer({ host, port, tls: config.tls, routes, requestTimeoutMs, logger });
}

/** The listener's own URL (the AuthZEN PDP identifier when `http.baseUrl` is not set). */
function listenerUrl(http: HttpServer, host: string): string {
  return `${http.secure ? "https" : "http"}://${host.includes(":") ? `[${host}]` : host}:${http.port}`;
}

/**
 * Drops cached verified tokens whenever any replica publishes a revocation. Revocations are
 * checked in the store on every decision anyway, so while the subscription is down (e.g. Redis
 * unreachable at start) nothing is allowed that should not be. While the store is unreachable the
 * subscription waits for it (the store's own messages say it is down); a failure with the store up
 * is retried with back-off (1 s doubling to 60 s), warned once, and its recovery logged.
 */
function subscribeRevocations(stores: StateStores, onRevocation: () => void, logger: Logger): () => Promise<void> {
  let unsubscribe: (() => Promise<void>) | undefined;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let delay = 1000;
  let failing = false;
  let waitingForStore = false;
  const attempt = () => {
    timer = undefined;
    if (stopped || unsubscribe) return;
    if (!stores.healthy()) {
      waitingForStore = true;
      return;
    }
    stores.revocations.subscribe(onRevocation).then(
      (u) => {
        if (stopped) return void u();
        unsubscribe = u;
        if (failing) logger.info("revocation subscription established");
        failing = false;
      },
      (err: unknown) => {
        if (stopped) return;
        if (!failing && stores.healthy()) logger.warn({ err: (err as Error).message }, "revocation subscription failed; retrying with back-off");
        failing = true;
        timer = setTimeout(attempt, delay).unref();
        delay = Math.min(delay * 2, 60_000);
      },
    );
  };
  stores.onHealthChange((healthy) => {
    if (!healthy || !waitingForStore || timer) return;
    waitingForStore = false;
    delay = 1000;
    attempt();
  });
  attempt();
  return async () => {
    stopped = true;
    clearTimeout(timer);
    await unsubscribe?.();
  };
}

/** Logs when an identity provider's keys cannot be fetched, and when they can again (not every probe). */
function logIdpChanges(verifier: TokenVerifier, logger: Logger): void {
  const down = new Set<string>();
  verifier.onIdpChange(({ issuer, jwksUri, state, lastError }) => {
    const key = `${issuer} ${jwksUri}`;
    if (state === "up" && down.delete(key)) logger.info({ issuer, jwksUri }, "identity provider reachable again");
    if (state !== "down" || down.has(key)) return;
    down.add(key);
    logger.warn({ issuer, jwksUri, lastError }, "identity provider unavailable: tokens that need its keys are DENY IDP_UNAVAILABLE until it answers");
  });
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
