/**
 * Watches a policy directory and hands over its files only once they have settled: unchanged for
 * a quiet period, and read twice — `quietMs` apart, with no file event in between — with the same
 * bytes from the same real directory. A file truncated and written back 700 ms later (what many
 * editors and `cp` do) is therefore never seen half-done: each in-between state is valid Cedar, so
 * validation could not tell.
 *
 * What is watched (non-recursive `fs.watch` on each: recursive watching is not reliable on Linux
 * with Node 20): the directory, its `policies/` and `entities/`, and — when the directory itself
 * is a symbolic link (`current -> releases/N`) — its parent, for a swap of the link. A Kubernetes
 * ConfigMap swaps `..data` inside the directory, which the directory's own watcher sees. The
 * watchers are re-established on every change, so directories that are created, deleted or
 * swapped keep being watched. Watchers and timers do not keep the process alive.
 */
import { lstatSync, watch } from "node:fs";
import type { FSWatcher } from "node:fs";
import path from "node:path";
import type { Logger } from "pino";
import { DEFINITION_DIR, ENTITY_DIR, POLICY_DIR, readPolicySnapshot, sameSnapshot } from "./policy-snapshot.js";
import type { PolicySnapshot } from "./policy-snapshot.js";

/** Options for {@link watchSettled}. */
export interface SettleWatchOptions {
  readonly dir: string;
  /** How long the files must stay unchanged (no event, same bytes) before they are handed over. */
  readonly quietMs: number;
  /** How long changes may go on before the attempt is given up (`onUnsettled`); the next change starts again. */
  readonly settleTimeoutMs: number;
  /** The settled files. Must not throw. */
  readonly onSettled: (snapshot: PolicySnapshot) => void;
  /** The files kept changing for `settleTimeoutMs`. Must not throw. */
  readonly onUnsettled: (waitedMs: number) => void;
  readonly logger: Pick<Logger, "warn">;
  /** Milliseconds clock; default `Date.now`. */
  readonly now?: () => number;
}

/** Starts watching; `close()` stops (idempotent). */
export function watchSettled(options: SettleWatchOptions): { close(): void } {
  const { dir, quietMs, settleTimeoutMs, logger } = options;
  const now = options.now ?? Date.now;
  const coalesceMs = Math.min(50, quietMs);
  const watchers = new Map<string, FSWatcher>();
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  /** When the changes being settled began (undefined: nothing pending). */
  let since: number | undefined;
  /** The first read of the pending check. */
  let first: PolicySnapshot | undefined;

  const later = (fn: () => void, ms: number): void => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = undefined;
      if (closed) return;
      try {
        fn();
      } catch (err) {
        // The callbacks do not throw; keep the watcher alive whatever happens.
        logger.warn({ err }, "policy watch failed");
      }
    }, ms);
    timer.unref();
  };

  const changed = (): void => {
    if (closed) return;
    first = undefined;
    since ??= now();
    if (now() - since > settleTimeoutMs) return giveUp();
    later(readFirst, coalesceMs);
  };
  const giveUp = (): void => {
    const waited = now() - (since ?? now());
    since = undefined;
    first = undefined;
    if (timer) clearTimeout(timer);
    timer = undefined;
    // Keep watching: the next change starts a new attempt; a quiet period then loads it.
    later(() => changed(), quietMs);
    options.onUnsettled(waited);
  };
  const readFirst = (): void => {
    rewatch();
    first = readPolicySnapshot(dir);
    later(readSecond, quietMs);
  };
  const readSecond = (): void => {
    const second = readPolicySnapshot(dir);
    if (first && sameSnapshot(first, second)) {
      since = undefined;
      first = undefined;
      options.onSettled(second);
      return;
    }
    // Changed without an event we saw (or the link was swapped): wait another quiet period.
    if (since !== undefined && now() - since > settleTimeoutMs) return giveUp();
    first = second;
    rewatch();
    later(readSecond, quietMs);
  };

  const watchOne = (target: string, only?: string): void => {
    try {
      const w = watch(target, { persistent: false }, (_event, filename) => {
        if (only === undefined || filename === null || String(filename) === only) changed();
      });
      w.on("error", () => {
        w.close();
        watchers.delete(target);
        changed();
      });
      watchers.set(target, w);
    } catch {
      // Missing (e.g. no entities/ yet): the directory's watcher sees it appear.
    }
  };
  const rewatch = (): void => {
    for (const w of watchers.values()) w.close();
    watchers.clear();
    for (const target of [dir, path.join(dir, POLICY_DIR), path.join(dir, ENTITY_DIR), path.join(dir, DEFINITION_DIR)]) watchOne(target);
    if (isLink(dir)) watchOne(path.dirname(path.resolve(dir)), path.basename(path.resolve(dir)));
  };

  rewatch();
  return {
    close() {
      closed = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      for (const w of watchers.values()) w.close();
      watchers.clear();
    },
  };
}

function isLink(p: string): boolean {
  try {
    return lstatSync(p).isSymbolicLink();
  } catch {
    return false;
  }
}
