/**
 * The policy set in force, and its hot reload: from a file watcher, from SIGHUP, or on demand.
 *
 * A reload loads the directory, validates it in strict mode and preparses it into the STANDBY
 * preparse slot; only when all of that succeeded does it swap the engine reference, in the same
 * synchronous step. JavaScript runs one thing at a time and `evaluate` is synchronous, so a
 * decision runs entirely under the old engine or entirely under the new one — never half of each.
 *
 * Slots: cedar-wasm never frees a preparsed set, so the manager owns exactly two slots and
 * alternates between them (memory stays flat across reloads). The engine in force is never
 * re-preparsed under: the new version always goes into the other slot, and a preparse that fails
 * there only disables the previous-but-one engine, which nobody holds any more (and which would
 * deny, not misjudge — see cedar-engine.ts).
 *
 * A version that fails is refused: the old one stays in force; the diagnostics (file:line
 * [policy @id] message — help) are logged and kept in {@link PolicyManager.status}, marked
 * superseded once a later attempt loads (or confirms) a whole version.
 *
 * Whole or not at all: a version is built from the files read once (policy-snapshot.ts), checked
 * against `SHA256SUMS` when there is one; a watch reload waits until the files have settled
 * (settle-watcher.ts); a version that drops policies or files is logged loudly and, with
 * `unannouncedRemovals: "refuse"`, refused unless a manifest announces it (policy-removals.ts).
 */
import type { Logger } from "pino";
import { PdpError } from "../errors.js";
import { createCedarEngine } from "./cedar-engine.js";
import { digestSnapshot, loadPolicySnapshot } from "./load-policy-set.js";
import type { LoadedPolicySet } from "./load-policy-set.js";
import { readPolicySnapshot, sameSnapshot } from "./policy-snapshot.js";
import type { PolicySnapshot } from "./policy-snapshot.js";
import { describeRemovals, removalsBetween } from "./policy-removals.js";
import { watchSettled } from "./settle-watcher.js";
import type { PolicyEngine, PolicyStatus } from "./types.js";

/** Options for {@link createPolicyManager}. */
export interface PolicyManagerOptions {
  /** The policy directory (`schema.cedarschema`, `policies/`, `entities/`). */
  readonly dir: string;
  /** Operational logger: reloads at info, refusals at error (with the diagnostics). */
  readonly logger: Pick<Logger, "info" | "warn" | "error">;
  /** Watch the directory and its `policies/` and `entities/` subdirectories; default false. */
  readonly watch?: boolean;
  /**
   * Watch reloads: how long the files must stay unchanged — no event, and read twice this far
   * apart with the same bytes — before a version is built from them. Default 1000 ms.
   */
  readonly quietMs?: number;
  /** Watch reloads: how long changes may go on before the attempt is refused (old version stays). Default 30000 ms. */
  readonly settleTimeoutMs?: number;
  /** Refuse a directory without a `SHA256SUMS` manifest (at start too). Default false. */
  readonly requireManifest?: boolean;
  /**
   * A new version that lacks policies (by `@id`) or files of the one in force, without a manifest
   * that announces it: `"refuse"` it, or `"allow"` it (logged loudly either way). Default `"allow"`
   * (the config's default is `"refuse"` in production mode).
   */
  readonly unannouncedRemovals?: "refuse" | "allow";
  /** Clock for `loadedAt` / `lastErrorAt`; default `() => new Date()`. */
  readonly now?: () => Date;
  /**
   * Prefix of the two preparse slots this manager alternates between (`<prefix>:0`,
   * `<prefix>:1`). Two managers in one thread need two prefixes; default a fresh
   * `policy-manager-<n>` per manager (each manager costs two slots for the life of the thread).
   */
  readonly slotPrefix?: string;
  /** Told about every version that comes into force (the first one and each reload); must not throw. */
  readonly onLoad?: (loaded: LoadedPolicySet) => void;
}

/** The result of one reload attempt. */
export type ReloadResult =
  | {
      readonly ok: true;
      /** False when the files hash to the version already in force (nothing was swapped). */
      readonly changed: boolean;
      /** The version in force after the reload. */
      readonly version: string;
      readonly previousVersion: string;
      readonly durationMs: number;
    }
  | {
      readonly ok: false;
      /** The diagnostics, one problem per line. */
      readonly error: string;
      /** The version still in force. */
      readonly version: string;
      /** The version (16 hex) of the refused files, when they could be read. */
      readonly refusedVersion?: string;
      readonly durationMs: number;
    };

/** Counters for metrics. */
export interface PolicyManagerMetrics {
  /** Reloads that swapped in a new version. */
  readonly reloads: number;
  /** Reloads that were refused. */
  readonly refusals: number;
  /** Reloads whose files hashed to the version already in force. */
  readonly unchanged: number;
}

/** The policy set in force and its lifecycle. */
export interface PolicyManager {
  /**
   * The engine in force. Call it per decision and evaluate right away (synchronously): holding
   * an engine across an `await` may evaluate an older version — still one whole version, and
   * never one whose slot has been reused (that denies). Its `status()` is the manager's status.
   */
  current(): PolicyEngine;
  /**
   * Loads, validates and preparses the directory and swaps it in; refuses it (old version stays)
   * on any error. Synchronous. `reason` is logged and kept in status (`"watch"`, `"SIGHUP"`, …).
   */
  reload(reason: string): ReloadResult;
  /** Version in force, load time, counts, last refusal and its diagnostics. */
  status(): PolicyStatus;
  /** Reload counters (also in `status()`). */
  metrics(): PolicyManagerMetrics;
  /** Stops watching (idempotent). The engine in force stays usable. */
  close(): void;
}

let managers = 0;

/**
 * Loads the policy directory and returns its manager; starts watching when `watch` is set.
 *
 * @throws PdpError `POLICY_INVALID` when the initial set does not load (the service must refuse
 *   to start), with the same diagnostics as `mcp-pdp policy validate`.
 */
export function createPolicyManager(options: PolicyManagerOptions): PolicyManager {
  const { dir, logger } = options;
  const now = options.now ?? (() => new Date());
  const prefix = options.slotPrefix ?? `policy-manager-${++managers}`;
  const slots = [`${prefix}:0`, `${prefix}:1`] as const;

  const counters = { reloads: 0, refusals: 0, unchanged: 0 };
  let refusal: { error: string; at: Date; version?: string; supersededBy?: string; supersededAt?: Date } | undefined;
  let refusing = false;
  const loadOptions = { requireManifest: options.requireManifest ?? false };
  const removalPolicy = options.unannouncedRemovals ?? "allow";

  /** One loaded version in force: its engine wrapped so that `status()` is the manager's. */
  interface InForce {
    readonly loaded: LoadedPolicySet;
    readonly engine: PolicyEngine;
    readonly slotIndex: 0 | 1;
    readonly loadedAt: Date;
    readonly reason: string;
  }

  const activate = (loaded: LoadedPolicySet, slotIndex: 0 | 1, reason: string): InForce => {
    const inner = createCedarEngine(loaded, { slot: slots[slotIndex] });
    const engine: PolicyEngine = {
      version: inner.version,
      evaluate: (input) => inner.evaluate(input),
      evaluationKey: (input) => inner.evaluationKey?.(input),
      ...(inner.parts && { parts: inner.parts }),
      evaluateBeside: (other, input) => inner.evaluateBeside?.(other, input),
      live: () => inner.live(),
      tool: (serverId, name) => inner.tool(serverId, name),
      definition: (serverId, name) => inner.definition(serverId, name),
      status: () => status(),
    };
    return { loaded, engine, slotIndex, loadedAt: now(), reason };
  };

  let inForce: InForce;
  try {
    inForce = activate(loadPolicySnapshot(readPolicySnapshot(dir), loadOptions), 0, "start");
  } catch (err) {
    throw PdpError.from(err, "POLICY_INVALID");
  }
  options.onLoad?.(inForce.loaded);
  logger.info(
    { policyVersion: inForce.loaded.version, policies: inForce.loaded.policies.size, dir },
    "policy set loaded",
  );
  for (const w of inForce.loaded.warnings) logger.warn({ warning: w }, "policy validation warning");

  function status(): PolicyStatus {
    const { loaded, loadedAt, reason } = inForce;
    return {
      version: loaded.version,
      loadedAt,
      policyCount: loaded.policies.size,
      entityCount: loaded.entities.length,
      ...(refusal && {
        lastError: refusal.error,
        lastErrorAt: refusal.at,
        ...(refusal.version !== undefined && { refusedVersion: refusal.version }),
        lastErrorSuperseded: refusal.supersededBy !== undefined,
        ...(refusal.supersededBy !== undefined && { lastErrorSupersededBy: refusal.supersededBy, lastErrorSupersededAt: refusal.supersededAt }),
      }),
      refusing,
      loadReason: reason,
      reloads: counters.reloads,
      refusals: counters.refusals,
    };
  }

  /** A later attempt loaded (or confirmed) a whole version: the last refusal is history now. */
  function supersede(version: string): void {
    refusing = false;
    if (refusal && refusal.supersededBy === undefined) {
      refusal.supersededBy = version;
      refusal.supersededAt = now();
    }
  }

  function refuse(err: unknown, reason: string, started: number, version: string | undefined): ReloadResult {
    const e = PdpError.from(err, "POLICY_INVALID");
    const previousVersion = inForce.loaded.version;
    refusal = { error: e.message, at: now(), ...(version !== undefined && { version }) };
    refusing = true;
    counters.refusals++;
    const durationMs = performance.now() - started;
    logger.error(
      { reason, policyVersion: previousVersion, refusedVersion: refusal.version, diagnostics: e.message.split("\n"), durationMs },
      `policy reload refused (${reason}); version ${previousVersion} stays in force:\n${e.message}`,
    );
    return {
      ok: false,
      error: e.message,
      version: previousVersion,
      ...(refusal.version !== undefined && { refusedVersion: refusal.version }),
      durationMs,
    };
  }

  /** Builds a version from files read once, and swaps it in — or refuses it. */
  function apply(snapshot: PolicySnapshot, reason: string, started: number): ReloadResult {
    const previous = inForce.loaded;
    let loaded: LoadedPolicySet;
    let next: InForce;
    let removalNote: string | undefined;
    try {
      loaded = loadPolicySnapshot(snapshot, loadOptions);
      if (loaded.digest === previous.digest) {
        counters.unchanged++;
        supersede(previous.version);
        return { ok: true, changed: false, version: previous.version, previousVersion: previous.version, durationMs: performance.now() - started };
      }
      const removals = removalsBetween(previous, loaded);
      if (removals) {
        removalNote = describeRemovals(removals);
        if (!loaded.manifest && removalPolicy === "refuse")
          throw new PdpError(
            "POLICY_INVALID",
            `${removalNote}, and no manifest (SHA256SUMS) announces it; policies.unannouncedRemovals is "refuse" (a half-written file looks the same — write a manifest for a deliberate removal)`,
          );
      }
      next = activate(loaded, inForce.slotIndex === 0 ? 1 : 0, reason);
    } catch (err) {
      const digest = digestSnapshot(snapshot);
      return refuse(err, reason, started, digest?.slice(0, 16));
    }
    // The swap: one assignment, in the same synchronous step as the preparse above.
    inForce = next;
    options.onLoad?.(loaded);
    supersede(loaded.version);
    counters.reloads++;
    const durationMs = performance.now() - started;
    if (removalNote)
      logger.warn(
        { reason, policyVersion: loaded.version, previousVersion: previous.version, announced: loaded.manifest === true },
        `policy set reloaded WITH REMOVALS (${reason}): ${removalNote}${loaded.manifest ? " (announced by SHA256SUMS)" : ""}`,
      );
    logger.info(
      { reason, policyVersion: loaded.version, previousVersion: previous.version, policies: loaded.policies.size, manifest: loaded.manifest === true, durationMs },
      `policy set reloaded (${reason})`,
    );
    for (const w of loaded.warnings) logger.warn({ warning: w }, "policy validation warning");
    return { ok: true, changed: true, version: loaded.version, previousVersion: previous.version, durationMs };
  }

  function reload(reason: string): ReloadResult {
    const started = performance.now();
    // An explicit reload does not wait for a quiet period, but the files must read the same twice.
    const snapshot = readPolicySnapshot(dir);
    if (!sameSnapshot(snapshot, readPolicySnapshot(dir)))
      return refuse(new PdpError("POLICY_INVALID", `${dir}: the files changed while they were read; reload again once the writes are done`), reason, started, undefined);
    return apply(snapshot, reason, started);
  }

  const watcher = options.watch
    ? watchSettled({
        dir,
        quietMs: options.quietMs ?? 1000,
        settleTimeoutMs: options.settleTimeoutMs ?? 30_000,
        logger,
        onSettled: (snapshot) => void apply(snapshot, "watch", performance.now()),
        onUnsettled: (waitedMs) =>
          void refuse(
            new PdpError("POLICY_INVALID", `${dir}: the files kept changing for ${waitedMs} ms (policies.settleTimeoutMs); the next quiet period loads them`),
            "watch",
            performance.now(),
            undefined,
          ),
      })
    : undefined;

  return {
    current: () => inForce.engine,
    reload,
    status,
    metrics: () => ({ ...counters }),
    close: () => watcher?.close(),
  };
}

