/**
 * The telemetry routes of the PDP's HTTP port: `GET /metrics` (Prometheus text format),
 * `GET /healthz` (the process is alive) and `GET /readyz` (200 when decisions can be made, 503
 * otherwise; the JSON body says why). Mounted by the HTTP server, which hands every request here
 * first: the handler answers its own paths and returns false for anything else.
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Registry } from "prom-client";
import type { Readiness } from "./readiness.js";

/** Answers the request and returns true when it is a telemetry path; false leaves it to the caller. */
export type TelemetryRequestHandler = (req: IncomingMessage, res: ServerResponse) => boolean;

/** What the routes serve. */
export interface TelemetryRoutesDeps {
  /** The metrics registry; absent when `metrics.enabled` is false (`/metrics` is then 404). */
  readonly registry?: Registry;
  readonly readiness: Pick<Readiness, "report">;
}

/** The paths {@link createTelemetryRoutes} answers. */
export const TELEMETRY_PATHS = ["/metrics", "/healthz", "/readyz"] as const;

function send(res: ServerResponse, status: number, type: string, body: string, head: boolean): void {
  res.writeHead(status, { "content-type": type, "cache-control": "no-store", "content-length": Buffer.byteLength(body) });
  res.end(head ? undefined : body);
}

function json(res: ServerResponse, status: number, value: unknown, head: boolean): void {
  send(res, status, "application/json; charset=utf-8", `${JSON.stringify(value)}\n`, head);
}

/** Builds the handler for `/metrics`, `/healthz` and `/readyz`. */
export function createTelemetryRoutes(deps: TelemetryRoutesDeps): TelemetryRequestHandler {
  return (req, res) => {
    const path = (req.url ?? "/").split("?", 1)[0];
    if (!(TELEMETRY_PATHS as readonly string[]).includes(path!)) return false;
    const head = req.method === "HEAD";
    if (req.method !== "GET" && !head) {
      res.setHeader("allow", "GET, HEAD");
      json(res, 405, { error: `${req.method} is not allowed on ${path}; use GET` }, false);
      return true;
    }
    switch (path) {
      case "/healthz":
        json(res, 200, { status: "alive" }, head);
        break;
      case "/readyz": {
        const report = deps.readiness.report();
        json(res, report.ready ? 200 : 503, report, head);
        break;
      }
      default: {
        const registry = deps.registry;
        if (!registry) {
          json(res, 404, { error: "metrics are disabled (metrics.enabled: false)" }, head);
          break;
        }
        registry.metrics().then(
          (text) => send(res, 200, registry.contentType, text, head),
          () => json(res, 500, { error: "metrics could not be collected" }, head),
        );
      }
    }
    return true;
  };
}
