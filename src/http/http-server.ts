/**
 * The PDP's one HTTP listener: AuthZEN, and whatever else is mounted on it (metrics, health).
 * `node:http` (or `node:https` with the listener's TLS): a handful of routes with bounded bodies
 * need no framework. Routes are tried in order; the first that takes a request answers it.
 */
import { readFileSync } from "node:fs";
import * as http from "node:http";
import * as https from "node:https";
import type { AddressInfo } from "node:net";
import type { Logger } from "pino";
import type { TlsConfig } from "../server/config.js";
import { sendError } from "./reply.js";
import { HttpError } from "./http-error.js";

/**
 * One route: returns true when it takes the request (and then answers it, now or later — a route
 * that answers asynchronously catches its own failures), false to let the next route try.
 */
export type RouteHandler = (req: http.IncomingMessage, res: http.ServerResponse) => boolean;

/** What {@link startHttpServer} needs. */
export interface HttpServerOptions {
  readonly host: string;
  readonly port: number;
  /** TLS for the listener (the gRPC listener's); with `caFile`, client certificates are asked for. */
  readonly tls?: TlsConfig | undefined;
  /** Tried in order for every request; none taking it is a 404. */
  readonly routes: readonly RouteHandler[];
  /** Time allowed to receive a whole request, in ms. */
  readonly requestTimeoutMs: number;
  readonly logger: Logger;
}

/** A listening HTTP server. */
export interface HttpServer {
  /** The port it listens on (useful with port 0). */
  readonly port: number;
  /** Whether it speaks TLS. */
  readonly secure: boolean;
  /** Stops accepting, lets requests in flight finish for up to `graceMs`, then closes every connection. */
  close(graceMs: number): Promise<void>;
}

function createServer(tls: TlsConfig | undefined, listener: http.RequestListener): http.Server {
  if (!tls) return http.createServer(listener);
  return https.createServer(
    {
      cert: readFileSync(tls.certFile),
      key: readFileSync(tls.keyFile),
      ...(tls.caFile && { ca: readFileSync(tls.caFile), requestCert: true, rejectUnauthorized: tls.requireClientCert }),
    },
    listener,
  );
}

/** Starts listening; resolves once bound. */
export async function startHttpServer(options: HttpServerOptions): Promise<HttpServer> {
  const { routes, logger } = options;
  const server = createServer(options.tls, (req, res) => {
    try {
      for (const route of routes) if (route(req, res)) return;
      sendError(res, new HttpError(404, `no such endpoint: ${req.method} ${(req.url ?? "").split("?")[0]}`));
    } catch (err) {
      logger.error({ err, method: req.method, url: req.url }, "HTTP route failed");
      sendError(res, err);
    }
  });
  server.requestTimeout = options.requestTimeoutMs;
  server.headersTimeout = Math.min(options.requestTimeoutMs, 10_000);
  server.keepAliveTimeout = 5_000;
  server.on("clientError", (_err, socket) => {
    if (socket.writable) socket.end("HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n");
    else socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, options.host, () => {
      server.off("error", reject);
      resolve();
    });
  });
  let closing: Promise<void> | undefined;
  return {
    port: (server.address() as AddressInfo).port,
    secure: Boolean(options.tls),
    close(graceMs) {
      closing ??= new Promise<void>((resolve) => {
        const timer = setTimeout(() => server.closeAllConnections(), graceMs);
        server.close(() => {
          clearTimeout(timer);
          resolve();
        });
        server.closeIdleConnections();
      });
      return closing;
    },
  };
}
