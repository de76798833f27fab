import { PdpError } from "../errors.js";

/**
 * Runs one store operation under a deadline. Anything but a PdpError — a Redis error, a closed
 * connection, the deadline passing — becomes PdpError STORE_UNAVAILABLE (with the cause kept for the
 * operational log). A late reply after the deadline is ignored, never an unhandled rejection.
 */
export async function redisGuard<T>(what: string, deadlineMs: number, op: () => Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`deadline of ${deadlineMs} ms passed`)), deadlineMs);
    });
    return await Promise.race([op(), deadline]);
  } catch (err) {
    if (err instanceof PdpError) throw err;
    throw new PdpError("STORE_UNAVAILABLE", `${what}: session store unavailable`, { cause: err });
  } finally {
    clearTimeout(timer);
  }
}
