/**
 * The bound on decisions in flight in this process, shared by every door. Beyond it a decision
 * is answered at once — DENY `OVERLOADED` — instead of queueing into timeouts: overload is its
 * own answer, never mistaken for a store outage, and never an ALLOW.
 */
export interface Admission {
  /** Takes a place; false when every place is taken (the caller answers OVERLOADED). */
  tryEnter(): boolean;
  /** Gives a place back. */
  leave(): void;
  /** Decisions in flight now. */
  readonly inFlight: number;
  /** The bound. */
  readonly limit: number;
  /** Decisions refused for overload since start. */
  readonly refused: number;
}

/** An admission bound of `limit` decisions in flight (`Infinity`: no bound). */
export function createAdmission(limit: number): Admission {
  let inFlight = 0;
  let refused = 0;
  return {
    tryEnter() {
      if (inFlight >= limit) {
        refused++;
        return false;
      }
      inFlight++;
      return true;
    },
    leave() {
      inFlight--;
    },
    get inFlight() {
      return inFlight;
    },
    limit,
    get refused() {
      return refused;
    },
  };
}
