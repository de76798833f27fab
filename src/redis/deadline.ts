import { PdpError } from "../errors.js";

/**
 * How late a deadline timer may fire before this process counts as busy rather than the store as
 * slow: a tenth of the deadline, at least 10 ms (timers on a loaded machine are a few ms late).
 */
export function loopLagToleranceMs(deadlineMs: number): number {
  return Math.max(10, deadlineMs / 10);
}

/** What ioredis rejects a command with when its own `commandTimeout` (our backstop) fires. */
const CLIENT_TIMEOUT = "Command timed out";

/**
 * Runs one store operation under a deadline that measures the store, not this process's event loop.
 *
 * A timer is a poor clock for a store: when the loop is held (a CPU-bound request, GC, a saturated
 * machine), the deadline's timer fires late — in the loop's timer phase, *before* the socket is
 * read — and a reply that arrived in time would be thrown away as a store failure. So:
 *
 * 1. When the timer fires, the loop first gets one pass over its sockets (`setImmediate`): a reply
 *    that is already there settles the operation.
 * 2. If the timer fired late by more than {@link loopLagToleranceMs}, the process — not the store —
 *    used up the deadline: it is armed once more, for the full deadline, counted from now.
 * 3. Otherwise (or after that one extension) the operation fails with PdpError `STORE_UNAVAILABLE`,
 *    and its message says how late the loop was if it was.
 *
 * So a Redis that does not answer still fails within `deadlineMs` when the loop is free, and within
 * `2 × deadlineMs` plus the time the loop itself was held otherwise — fail closed, in bounded time.
 * A command that the client's own backstop timeout rejected while the loop was held is PdpError
 * `OVERLOADED` (the reply could not be read in time; the store is not known to be at fault).
 * Anything else but a PdpError — a Redis error, a closed connection — is `STORE_UNAVAILABLE` with
 * the cause kept for the operational log. A late reply is ignored, never an unhandled rejection.
 */
export function redisGuard<T>(what: string, deadlineMs: number, op: () => Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const tolerance = loopLagToleranceMs(deadlineMs);
    let settled = false;
    let extended = false;
    let lagMs = 0;
    let timer: NodeJS.Timeout | undefined;
    const settle = (finish: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      finish();
    };
    const arm = () => {
      const due = performance.now() + deadlineMs;
      timer = setTimeout(() => {
        const late = performance.now() - due;
        lagMs = Math.max(lagMs, late);
        setImmediate(() => {
          if (settled) return;
          if (late > tolerance && !extended) {
            extended = true;
            arm();
            return;
          }
          const loop = lagMs > tolerance ? `; the event loop was ${Math.round(lagMs)} ms late, the deadline was extended once` : "";
          settle(() => reject(new PdpError("STORE_UNAVAILABLE", `${what}: session store unavailable (no reply within ${deadlineMs} ms${loop})`)));
        });
      }, deadlineMs);
    };
    let pending: Promise<T>;
    try {
      pending = op();
    } catch (err) {
      pending = Promise.reject(err);
    }
    arm();
    pending.then(
      (value) => settle(() => resolve(value)),
      (err: unknown) =>
        settle(() => {
          if (err instanceof PdpError) return reject(err);
          if ((err as Error)?.message === CLIENT_TIMEOUT && lagMs > tolerance) {
            return reject(new PdpError("OVERLOADED", `${what}: the event loop was held ${Math.round(lagMs)} ms; the store's reply could not be read in time`, { cause: err }));
          }
          reject(new PdpError("STORE_UNAVAILABLE", `${what}: session store unavailable`, { cause: err }));
        }),
    );
  });
}
