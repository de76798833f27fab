/** Types for the parts of `parse-prometheus-text-format` the tests use (the package ships none). */
declare module "parse-prometheus-text-format" {
  /** One sample: counters and gauges carry `value`; histograms `buckets`, `count` and `sum`. */
  export interface PromSample {
    readonly labels?: Readonly<Record<string, string>>;
    readonly value?: string;
    readonly buckets?: Readonly<Record<string, string>>;
    readonly count?: string;
    readonly sum?: string;
  }
  /** One metric family. */
  export interface PromFamily {
    readonly name: string;
    readonly help: string;
    readonly type: "COUNTER" | "GAUGE" | "HISTOGRAM" | "SUMMARY" | "UNTYPED";
    readonly metrics: readonly PromSample[];
  }
  /** Parses the Prometheus text exposition format. */
  export default function parsePrometheusTextFormat(text: string): PromFamily[];
}
