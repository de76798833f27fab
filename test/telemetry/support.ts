/**
 * The telemetry routes mounted on a plain node:http server on 127.0.0.1:0 (the PDP's own HTTP
 * server mounts the same handler), and a scraper that reads /metrics with a Prometheus
 * text-format parser.
 */
import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import parsePrometheusTextFormat, { type PromFamily, type PromSample } from "parse-prometheus-text-format";
import type { TelemetryRequestHandler } from "../../src/telemetry/http-routes.js";

/** A running HTTP server answering the telemetry routes (404 for anything else). */
export interface TelemetryHttp {
  readonly url: string;
  close(): Promise<void>;
}

/** Serves `handle` on 127.0.0.1:0. */
export async function serveTelemetry(handle: TelemetryRequestHandler): Promise<TelemetryHttp> {
  const server: Server = createServer((req, res) => {
    if (!handle(req, res)) {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** The scraped metrics, parsed. */
export interface Scrape {
  readonly families: readonly PromFamily[];
  readonly text: string;
  family(name: string): PromFamily | undefined;
  /** The value of the sample of `name` whose labels include `labels` (0 when there is none). */
  value(name: string, labels?: Record<string, string>): number;
  /**
   * A histogram's `_count` for exactly `labels`. Read from the text: the parser keeps only the
   * buckets of a histogram that has labels (it flattens unlabeled histograms alone).
   */
  count(name: string, labels?: Record<string, string>): number;
}

function matches(sample: PromSample, labels: Record<string, string>): boolean {
  return Object.entries(labels).every(([k, v]) => sample.labels?.[k] === v);
}

/** GETs `/metrics` and parses it. */
export async function scrape(baseUrl: string): Promise<Scrape> {
  const res = await fetch(new URL("/metrics", baseUrl), { signal: AbortSignal.timeout(10_000) });
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  const text = await res.text();
  const families = parsePrometheusTextFormat(text);
  const family = (name: string) => families.find((f) => f.name === name);
  return {
    families,
    text,
    family,
    value(name, labels = {}) {
      const s = family(name)?.metrics.find((m) => matches(m, labels));
      return s?.value === undefined ? 0 : Number(s.value);
    },
    count(name, labels = {}) {
      assert.equal(family(name)?.type, "HISTOGRAM", `${name} is a histogram`);
      const set = Object.entries(labels).map(([k, v]) => `${k}="${v}"`).join(",");
      const line = text.split("\n").find((l) => l.startsWith(`${name}_count${set ? `{${set}}` : ""} `));
      return line === undefined ? 0 : Number(line.slice(line.lastIndexOf(" ") + 1));
    },
  };
}
