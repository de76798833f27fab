/**
 * The shadow policy set (`policies.shadowDir`): a candidate set evaluated beside the live one on
 * every policy decision, to see — going forward — what it would change. It never changes an answer.
 *
 * On while the directory holds a policy set, off while it is empty (or absent): turning it on,
 * changing it, or turning it off is a reload (file watch or SIGHUP), never a restart. A set is
 * loaded exactly as the live one is — read once, settled, checked against `SHA256SUMS` when there
 * is one, validated in strict mode, preparsed into one of two slots of its own — and a set that
 * fails is refused like a live one: logged with its diagnostics, kept in status and counted; the
 * shadow set in force (or none) stays.
 */
import { PdpError } from "../errors.js";
import { createCedarEngine } from "./cedar-engine.js";
import { loadPolicySnapshot, type LoadedPolicySet } from "./load-policy-set.js";
import { POLICY_DIR, readPolicySnapshot, sameSnapshot, SCHEMA_FILE, type PolicySnapshot } from "./policy-snapshot.js";
import { watchSettled } from "./settle-watcher.js";
import type { PolicyManagerOptions } from "./policy-manager.js";
import type { PolicyEngine } from "./types.js";

/**
 * Options for {@link createShadowPolicy}: the live manager's loading options (watch, settle,
 * manifest), for the shadow directory; `onLoad` is told about every shadow version that comes into
 * force (archive it, so its records can be explained).
 */
export interface ShadowPolicyOptions
  extends Pick<PolicyManagerOptions, "logger" | "watch" | "quietMs" | "settleTimeoutMs" | "requireManifest" | "onLoad" | "now"> {
  /** The shadow directory: a policy set (on) or nothing (off). */
  readonly dir: string;
}

/** The shadow set's state. */
export interface ShadowStatus {
  /** True while a shadow set is in force. */
  readonly on: boolean;
  readonly version?: string;
  readonly loadedAt?: Date;
  /** The diagnostics of the last refused shadow set (kept until a later reload loads or turns off). */
  readonly lastError?: string;
  readonly lastErrorAt?: Date;
  /** Shadow sets loaded (or turned off) since start. */
  readonly reloads: number;
  /** Shadow sets refused since start. */
  readonly refusals: number;
}

/** The result of one shadow reload. */
export type ShadowReloadResult =
  | { readonly ok: true; readonly on: boolean; readonly version?: string; readonly changed: boolean }
  | { readonly ok: false; readonly error: string; readonly on: boolean; readonly version?: string };

/** The shadow set and its reloads. */
export interface ShadowPolicy {
  /** The shadow engine in force, or undefined while shadow evaluation is off. */
  current(): PolicyEngine | undefined;
  /** Reads the directory again now (SIGHUP). Synchronous. */
  reload(reason: string): ShadowReloadResult;
  status(): ShadowStatus;
  /** Stops watching (idempotent). */
  close(): void;
}

let shadows = 0;

/** True when the snapshot holds nothing of a policy set (shadow off). */
function empty(snapshot: PolicySnapshot): boolean {
  return !snapshot.files.has(SCHEMA_FILE) && ![...snapshot.files.keys()].some((rel) => rel.startsWith(`${POLICY_DIR}/`));
}

/** Loads the shadow directory (never throws: a set that fails is refused, shadow stays off) and watches it when asked. */
export function createShadowPolicy(options: ShadowPolicyOptions): ShadowPolicy {
  const { dir, logger } = options;
  const now = options.now ?? (() => new Date());
  const prefix = `shadow-${++shadows}`;
  let slot: 0 | 1 = 1;
  let inForce: { engine: PolicyEngine; loaded: LoadedPolicySet; loadedAt: Date } | undefined;
  let refusal: { error: string; at: Date } | undefined;
  const counters = { reloads: 0, refusals: 0 };

  function apply(snapshot: PolicySnapshot, reason: string): ShadowReloadResult {
    const version = inForce?.loaded.version;
    if (empty(snapshot)) {
      refusal = undefined;
      if (!inForce) return { ok: true, on: false, changed: false };
      logger.info({ reason, dir, shadowVersion: version }, `shadow policy set turned off (${reason}): ${dir} holds no policy set`);
      inForce = undefined;
      counters.reloads++;
      return { ok: true, on: false, changed: true };
    }
    try {
      const loaded = loadPolicySnapshot(snapshot, { requireManifest: options.requireManifest ?? false });
      if (loaded.digest === inForce?.loaded.digest) {
        refusal = undefined;
        return { ok: true, on: true, version: loaded.version, changed: false };
      }
      const next: 0 | 1 = slot === 0 ? 1 : 0;
      const engine = createCedarEngine(loaded, { slot: `${prefix}:${next}` });
      slot = next;
      inForce = { engine, loaded, loadedAt: now() };
      refusal = undefined;
      counters.reloads++;
      options.onLoad?.(loaded);
      logger.info({ reason, dir, shadowVersion: loaded.version, previousShadowVersion: version, policies: loaded.policies.size }, `shadow policy set loaded (${reason})`);
      for (const w of loaded.warnings) logger.warn({ warning: w }, "shadow policy validation warning");
      return { ok: true, on: true, version: loaded.version, changed: true };
    } catch (err) {
      const e = PdpError.from(err, "POLICY_INVALID");
      refusal = { error: e.message, at: now() };
      counters.refusals++;
      logger.error(
        { reason, dir, shadowVersion: version, diagnostics: e.message.split("\n") },
        `shadow policy set refused (${reason}); ${version ? `shadow version ${version} stays` : "shadow evaluation stays off"}:\n${e.message}`,
      );
      return { ok: false, error: e.message, on: inForce !== undefined, ...(version !== undefined && { version }) };
    }
  }

  function reload(reason: string): ShadowReloadResult {
    const snapshot = readPolicySnapshot(dir);
    if (!sameSnapshot(snapshot, readPolicySnapshot(dir))) {
      const error = `${dir}: the files changed while they were read; reload again once the writes are done`;
      refusal = { error, at: now() };
      counters.refusals++;
      logger.error({ reason, dir }, `shadow policy set refused (${reason}): ${error}`);
      return { ok: false, error, on: inForce !== undefined, ...(inForce && { version: inForce.loaded.version }) };
    }
    return apply(snapshot, reason);
  }

  reload("start");
  const watcher = options.watch
    ? watchSettled({
        dir,
        quietMs: options.quietMs ?? 1000,
        settleTimeoutMs: options.settleTimeoutMs ?? 30_000,
        logger,
        onSettled: (snapshot) => void apply(snapshot, "watch"),
        onUnsettled: (waitedMs) => {
          refusal = { error: `${dir}: the files kept changing for ${waitedMs} ms (policies.settleTimeoutMs)`, at: now() };
          counters.refusals++;
          logger.error({ dir, waitedMs }, "shadow policy set refused (watch): the files kept changing");
        },
      })
    : undefined;

  return {
    current: () => inForce?.engine,
    reload,
    status: () => ({
      on: inForce !== undefined,
      ...(inForce && { version: inForce.loaded.version, loadedAt: inForce.loadedAt }),
      ...(refusal && { lastError: refusal.error, lastErrorAt: refusal.at }),
      reloads: counters.reloads,
      refusals: counters.refusals,
    }),
    close: () => watcher?.close(),
  };
}
