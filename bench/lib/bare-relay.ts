/**
 * The floor of the gateway bench (`--gateway`): the least an HTTP hop in Node costs — a
 * transparent relay that forwards each request (method, path, headers, body) to the upstream over
 * a keep-alive `node:http` connection and streams the answer back, with no parsing, no checks and
 * no decision. Started as its own process: `node --import tsx bench/lib/bare-relay.ts UPSTREAM_ORIGIN`;
 * prints `bare relay listening on port N`.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";

const upstream = new URL(process.argv[2]!);
const agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
const server = http.createServer((req, res) => {
  const out = http.request({ host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: { ...req.headers, host: upstream.host }, agent }, (up) => {
    res.writeHead(up.statusCode ?? 502, up.headers);
    up.pipe(res);
  });
  out.on("error", () => res.writeHead(502).end());
  req.pipe(out);
});
server.listen(0, "127.0.0.1", () => console.log(`bare relay listening on port ${(server.address() as AddressInfo).port}`));
process.on("SIGTERM", () => process.exit(0));
