/** Latency samples and their summary. */

/** A latency summary in milliseconds. */
export interface LatencySummary {
  readonly count: number;
  readonly p50: number;
  readonly p99: number;
  readonly p999: number;
  readonly mean: number;
  readonly max: number;
}

/** Collects latencies (ms) into a growable Float64Array. */
export class Samples {
  #data = new Float64Array(1 << 14);
  #n = 0;

  /** Adds one latency in ms. */
  add(ms: number): void {
    if (this.#n === this.#data.length) {
      const bigger = new Float64Array(this.#data.length * 2);
      bigger.set(this.#data);
      this.#data = bigger;
    }
    this.#data[this.#n++] = ms;
  }

  get count(): number {
    return this.#n;
  }

  /** Percentiles (nearest rank), mean and max. */
  summary(): LatencySummary {
    const xs = this.#data.slice(0, this.#n).sort();
    const at = (p: number) => (xs.length === 0 ? NaN : (xs[Math.min(xs.length - 1, Math.ceil(xs.length * p) - 1)] as number));
    let sum = 0;
    for (const x of xs) sum += x;
    return { count: xs.length, p50: at(0.5), p99: at(0.99), p999: at(0.999), mean: xs.length ? sum / xs.length : NaN, max: xs.length ? (xs[xs.length - 1] as number) : NaN };
  }
}

/** Times `fn` `n` times after `warm` untimed calls; returns the summary (ms). */
export async function timeIt(n: number, warm: number, fn: (i: number) => unknown): Promise<LatencySummary> {
  for (let i = 0; i < warm; i++) await fn(i);
  const s = new Samples();
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    await fn(warm + i);
    s.add(performance.now() - t);
  }
  return s.summary();
}

/** Formats ms with µs resolution below 1 ms. */
export function ms(x: number): string {
  if (!Number.isFinite(x)) return "-";
  return x < 1 ? `${(x * 1000).toFixed(0)}µs` : `${x.toFixed(2)}ms`;
}
