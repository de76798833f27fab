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
 * [policy @id] message — help) are logged and kept in {@link PolicyManager.status}.
 */
import { watch } from "node:fs";
import type { FSWatcher } from "node:fs";
import path from "node:path";
import type { Logger } from "pino";
import { PdpError } from "../errors.js";
import { createCedarEngine } from "./cedar-engine.js";
import { digestPolicyDir, loadPolicySet } from "./load-policy-set.js";
import type { LoadedPolicySet } from "./load-policy-set.js";
import type { PolicyEngine, PolicyStatus } from "./types.js";

/** Options for {@link createPolicyManager}. */
export interface PolicyManagerOptions {
  /** The policy directory (`schema.cedarschema`, `policies/`, `entities/`). */
  readonly dir: string;
  /** Operational logger: reloads at info, refusals at error (with the diagnostics). */
  readonly logger: Pick<Logger, "info" | "warn" | "error">;
  /** Watch the directory and its `policies/` and `entities/` subdirectories; default false. */
  readonly watch?: boolean;
  /** Quiet time after the last file event before a watch reload; default 250 ms. */
  readonly debounceMs?: number;
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
  let refusal: { error: string; at: Date; version?: string } | undefined;
  let refusing = false;

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
      live: () => inner.live(),
      tool: (serverId, name) => inner.tool(serverId, name),
      definition: (serverId, name) => inner.definition(serverId, name),
      status: () => status(),
    };
    return { loaded, engine, slotIndex, loadedAt: now(), reason };
  };

  let inForce: InForce;
  try {
    inForce = activate(loadPolicySet(dir), 0, "start");
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
      }),
      refusing,
      loadReason: reason,
      reloads: counters.reloads,
      refusals: counters.refusals,
    };
  }

  function reload(reason: string): ReloadResult {
    const started = performance.now();
    const previousVersion = inForce.loaded.version;
    let loaded: LoadedPolicySet;
    let next: InForce;
    try {
      loaded = loadPolicySet(dir);
      if (loaded.digest === inForce.loaded.digest) {
        counters.unchanged++;
        refusing = false;
        return { ok: true, changed: false, version: previousVersion, previousVersion, durationMs: performance.now() - started };
      }
      next = activate(loaded, inForce.slotIndex === 0 ? 1 : 0, reason);
    } catch (err) {
      const e = PdpError.from(err, "POLICY_INVALID");
      const digest = digestPolicyDir(dir);
      refusal = { error: e.message, at: now(), ...(digest !== undefined && { version: digest.slice(0, 16) }) };
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
    // The swap: one assignment, in the same synchronous step as the preparse above.
    inForce = next;
    options.onLoad?.(loaded);
    refusing = false;
    counters.reloads++;
    const durationMs = performance.now() - started;
    logger.info(
      { reason, policyVersion: loaded.version, previousVersion, policies: loaded.policies.size, durationMs },
      `policy set reloaded (${reason})`,
    );
    for (const w of loaded.warnings) logger.warn({ warning: w }, "policy validation warning");
    return { ok: true, changed: true, version: loaded.version, previousVersion, durationMs };
  }

  const watcher = options.watch ? watchPolicyDir(dir, options.debounceMs ?? 250, () => reload("watch"), logger) : undefined;

  return {
    current: () => inForce.engine,
    reload,
    status,
    metrics: () => ({ ...counters }),
    close: () => watcher?.close(),
  };
}

/**
 * Watches `dir`, `dir/policies` and `dir/entities` (non-recursive `fs.watch` on each: recursive
 * watching is not reliable on Linux with Node 20) and calls `onChange` once things have been
 * quiet for `debounceMs`. The watchers are re-established after every change, so directories
 * that are created, deleted or swapped (editors' atomic saves, Kubernetes ConfigMap symlink
 * swaps) keep being watched. Watchers do not keep the process alive.
 */
function watchPolicyDir(
  dir: string,
  debounceMs: number,
  onChange: () => void,
  logger: Pick<Logger, "warn">,
): { close(): void } {
  const watchers = new Map<string, FSWatcher>();
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  const schedule = (): void => {
    if (closed) return;
    if (timer) clearTimeout(timer);
    timer = setTimeout(fire, debounceMs);
    timer.unref();
  };
  const fire = (): void => {
    timer = undefined;
    if (closed) return;
    rewatch();
    try {
      onChange();
    } catch (err) {
      // reload() does not throw; keep the watcher alive whatever happens.
      logger.warn({ err }, "policy watch reload failed");
    }
  };
  const watchOne = (target: string): void => {
    try {
      const w = watch(target, { persistent: false }, schedule);
      w.on("error", () => {
        w.close();
        watchers.delete(target);
        schedule();
      });
      watchers.set(target, w);
    } catch {
      // Missing (e.g. no entities/ yet): the root watcher sees it appear.
    }
  };
  const rewatch = (): void => {
    for (const w of watchers.values()) w.close();
    watchers.clear();
    for (const target of [dir, path.join(dir, "policies"), path.join(dir, "entities")]) watchOne(target);
  };

  rewatch();
  return {
    close() {
      closed = true;
      if (timer) clearTimeout(timer);
      for (const w of watchers.values()) w.close();
      watchers.clear();
    },
  };
}
