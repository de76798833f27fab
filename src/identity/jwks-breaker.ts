/**
 * A circuit breaker for one JWKS endpoint, sitting in jose's fetch (`[customFetch]`).
 *
 * Written here rather than taken from cockatiel or opossum, because what this endpoint needs is not
 * what they do: both run the half-open trial call on a caller's request path (cockatiel makes the
 * other callers wait for it; jose would make them wait on the same pending fetch anyway), so a
 * hanging IdP would still cost callers the fetch timeout at every probe; neither takes an injected
 * clock; opossum 10 needs Node 22. Here the probe is a background fetch that no call waits for.
 *
 * up ── `failureThreshold` consecutive failed fetches ──▶ down ── probe due ──▶ probing
 *  ▲                                                       ▲                      │
 *  └──────────────── probe answered with a JWKS ───────────┼──────────────────────┤
 *                                                          └── probe failed ──────┘ (wait doubles, up to the maximum)
 *
 * While down or probing every fetch fails at once with IDP_UNAVAILABLE: a call then costs no
 * fetch timeout. Keys already cached by jose keep verifying (no fetch happens for them).
 */
import { PdpError } from "../errors.js";

/** How a JWKS endpoint is doing, as far as this PDP can tell. */
export type IdpState = "up" | "down" | "probing";

/** Counters and state of one JWKS endpoint. */
export interface JwksBreakerSnapshot {
  readonly state: IdpState;
  /** Failed fetches in a row (0 after any success). */
  readonly consecutiveFailures: number;
  /** Failed fetches (calls' and probes') since start. */
  readonly failures: number;
  /** Fetches refused at once, without touching the network, because the endpoint was down. */
  readonly rejected: number;
  /** Why the last fetch failed, in a few words (e.g. `timed out`, `HTTP 500`); never a token. */
  readonly lastError?: string;
}

/** Settings of a {@link JwksBreaker}. */
export interface JwksBreakerOptions {
  /** Consecutive failed fetches that mark the endpoint down (at least 1). */
  readonly failureThreshold: number;
  /** Wait after the endpoint went down before the first probe, in ms. */
  readonly probeIntervalMs: number;
  /** The wait doubles after each failed probe, up to this, in ms. */
  readonly probeMaxIntervalMs: number;
  /** Timeout of a probe fetch, in ms (a call's fetch has jose's `timeoutDuration`). */
  readonly timeoutMs: number;
  /** Monotonic clock in ms that decides when a probe is due. */
  readonly now: () => number;
}

/** The fetch signature jose's `[customFetch]` calls. */
export type JwksFetch = (url: string, init: RequestInit) => Promise<Response>;

class JwksFetchError extends Error {
  override readonly name = "JwksFetchError";
}

/** A JWKS endpoint's circuit breaker; see the module comment. */
export class JwksBreaker {
  readonly #url: URL;
  readonly #options: JwksBreakerOptions;
  readonly #listeners = new Set<(snapshot: JwksBreakerSnapshot) => void>();
  #state: IdpState = "up";
  #consecutive = 0;
  #failures = 0;
  #rejected = 0;
  #lastError: string | undefined;
  #interval: number;
  #nextProbeAt = 0;
  #timer: NodeJS.Timeout | undefined;
  #probe: AbortController | undefined;
  #closed = false;

  constructor(url: URL, options: JwksBreakerOptions) {
    this.#url = url;
    this.#options = { ...options, failureThreshold: Math.max(1, Math.floor(options.failureThreshold)) };
    this.#interval = Math.max(1, options.probeIntervalMs);
  }

  /**
   * The fetch for jose: refuses at once while the endpoint is down, else fetches and accepts only
   * HTTP 200 with a JSON body that has a `keys` array. Any failure is PdpError IDP_UNAVAILABLE.
   */
  readonly fetch: JwksFetch = async (url, init) => {
    if (this.#state !== "up") {
      this.#rejected++;
      if (this.#state === "down" && this.#options.now() >= this.#nextProbeAt) this.#startProbe();
      throw new PdpError("IDP_UNAVAILABLE", "identity provider is unavailable (its keys cannot be fetched)");
    }
    try {
      const body = await fetchJwks(url, init);
      this.#succeeded();
      return new Response(body, { status: 200, headers: { "content-type": "application/json" } });
    } catch (err) {
      this.#failed(err);
      throw new PdpError("IDP_UNAVAILABLE", "identity provider keys could not be fetched", { cause: err });
    }
  };

  /** The endpoint's state and counters now. */
  snapshot(): JwksBreakerSnapshot {
    return {
      state: this.#state,
      consecutiveFailures: this.#consecutive,
      failures: this.#failures,
      rejected: this.#rejected,
      ...(this.#lastError !== undefined && { lastError: this.#lastError }),
    };
  }

  /** Calls `listener` after every change of state; returns the unsubscribe function. A listener that throws is ignored. */
  onChange(listener: (snapshot: JwksBreakerSnapshot) => void): () => void {
    this.#listeners.add(listener);
    return () => void this.#listeners.delete(listener);
  }

  /** Stops probing (clears the timer, aborts a probe in flight) and forgets the listeners. */
  close(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
    this.#probe?.abort();
    this.#listeners.clear();
  }

  #succeeded(): void {
    this.#consecutive = 0;
    this.#interval = Math.max(1, this.#options.probeIntervalMs);
    if (this.#state !== "up") this.#enter("up");
  }

  #failed(err: unknown): void {
    if (this.#closed) return;
    this.#consecutive++;
    this.#failures++;
    this.#lastError = describe(err);
    if (this.#state === "probing") {
      this.#interval = Math.min(this.#interval * 2, Math.max(this.#options.probeIntervalMs, this.#options.probeMaxIntervalMs));
      this.#scheduleProbe();
      this.#enter("down");
    } else if (this.#state === "up" && this.#consecutive >= this.#options.failureThreshold) {
      this.#scheduleProbe();
      this.#enter("down");
    }
  }

  #scheduleProbe(): void {
    this.#nextProbeAt = this.#options.now() + this.#interval;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.#startProbe(), this.#interval).unref();
  }

  #startProbe(): void {
    if (this.#closed || this.#state !== "down") return;
    clearTimeout(this.#timer);
    const controller = new AbortController();
    this.#probe = controller;
    this.#enter("probing");
    const signal = AbortSignal.any([controller.signal, AbortSignal.timeout(this.#options.timeoutMs)]);
    const init: RequestInit = { method: "GET", signal, redirect: "manual", headers: { accept: "application/json, application/jwk-set+json" } };
    fetchJwks(this.#url.href, init).then(
      () => {
        if (!this.#closed) this.#succeeded();
      },
      (err: unknown) => this.#failed(err),
    );
  }

  #enter(state: IdpState): void {
    this.#state = state;
    const snapshot = this.snapshot();
    for (const listener of this.#listeners) {
      try {
        listener(snapshot);
      } catch {
        // A listener (metrics, health, logs) must never change what the verifier answers.
      }
    }
  }
}

/** Fetches and checks a JWKS; returns its body text. Throws on any transport, status or format problem. */
async function fetchJwks(url: string, init: RequestInit): Promise<string> {
  const response = await fetch(url, init);
  if (response.status !== 200) {
    await response.body?.cancel().catch(() => undefined);
    throw new JwksFetchError(`HTTP ${response.status}`);
  }
  const text = await response.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new JwksFetchError("answer is not a JWKS (not JSON)");
  }
  const keys = (json as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.some((k) => typeof k !== "object" || k === null || Array.isArray(k))) {
    throw new JwksFetchError("answer is not a JWKS (no keys array)");
  }
  return text;
}

/** A few safe words about a failed fetch, for status and logs. */
function describe(err: unknown): string {
  if (err instanceof JwksFetchError) return err.message;
  const e = err as { name?: string; cause?: { code?: string } };
  if (e?.name === "TimeoutError") return "timed out";
  if (e?.name === "AbortError") return "aborted";
  if (typeof e?.cause?.code === "string") return `connection failed (${e.cause.code})`;
  return "connection failed";
}
