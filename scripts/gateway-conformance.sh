#!/usr/bin/env bash
# The MCP conformance suite (@modelcontextprotocol/conformance@0.1.13, the last version that runs
# on Node 20) against @modelcontextprotocol/server-everything in its Streamable HTTP mode, three
# ways, in one run (README "Gateway", "MCP conformance"):
#   direct   — the suite against server-everything itself;
#   gateway  — the suite against `mcp-pdp gateway` in front of that same server (the demo policy
#              cedar/policies/gateway-demo.cedar: echo and get-sum allowed), sending no token,
#              because 0.1.13 has no option to send a header: every scenario meets the 401;
#   gateway+token — the same gateway behind a small loopback proxy that adds
#              `Authorization: Bearer <development user token>` to each request and changes
#              nothing else (Host and Origin pass through as the suite sent them), i.e. a client
#              that has a token.
# Prints one "PASS/FAIL scenario" line per scenario and way, then the scenarios whose outcome
# differs. Starts a development-mode PDP, server-everything, the gateway and the proxy on free
# ports and stops them on exit.
#   scripts/gateway-conformance.sh            (needs dist/: npm run build; npx fetches the suite)
#   OUT=dir scripts/gateway-conformance.sh    (keeps the suite's result files in dir)
set -euo pipefail
cd "$(dirname "$0")/.."
free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
PDP_PORT=$(free_port)
UP_PORT=$(free_port)
GW_PORT=$(free_port)
PX_PORT=$(free_port)
HTTP_PORT=$(free_port)   # the PDP's HTTP port (AuthZEN, metrics): not the default 50052, which may be taken
RESOURCE=http://127.0.0.1:8080/mcp   # the demo's resource in the bundled cedar/ (policies/gateway-demo.cedar)
LOGS=$(mktemp -d)
OUT=${OUT:-$LOGS/results}
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null; wait 2>/dev/null || true' EXIT
wait_for() { for _ in $(seq 1 150); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.2; done; echo "timed out waiting for $1" >&2; cat "$1" >&2; exit 1; }

node bin/mcp-pdp.js serve --port "$PDP_PORT" --http-port "$HTTP_PORT" >"$LOGS/pdp.log" 2>&1 &
PIDS+=($!)
wait_for "$LOGS/pdp.log" "mcp-pdp serving"   # a PDP that cannot start would turn every decision into UNAVAILABLE
PORT=$UP_PORT node node_modules/@modelcontextprotocol/server-everything/dist/index.js streamableHttp >"$LOGS/upstream.log" 2>&1 &
PIDS+=($!)
wait_for "$LOGS/upstream.log" "listening on port"
node bin/mcp-pdp.js gateway --port "$GW_PORT" --pdp "127.0.0.1:$PDP_PORT" --resource "$RESOURCE" --log-level warn \
  --upstream-url "http://127.0.0.1:$UP_PORT/mcp" >"$LOGS/gateway.log" 2>&1 &
PIDS+=($!)
wait_for "$LOGS/gateway.log" "mcp-pdp gateway:"
TOKEN=$(node bin/mcp-pdp.js dev token user --aud "$RESOURCE" --ttl 3600)
# The token-adding proxy: same method, path and headers (Host included), plus the bearer token.
TOKEN=$TOKEN node -e '
const http = require("http");
const [port, target] = [Number(process.argv[1]), Number(process.argv[2])];
http.createServer((req, res) => {
  const up = http.request({ host: "127.0.0.1", port: target, method: req.method, path: req.url,
    headers: { ...req.headers, authorization: `Bearer ${process.env.TOKEN}` } }, (r) => { res.writeHead(r.statusCode, r.headers); r.pipe(res); });
  up.on("error", () => { res.writeHead(502); res.end(); });
  req.pipe(up);
}).listen(port, "127.0.0.1", () => console.log("proxy listening"));' "$PX_PORT" "$GW_PORT" >"$LOGS/proxy.log" 2>&1 &
PIDS+=($!)
wait_for "$LOGS/proxy.log" "proxy listening"

conformance() { # NAME URL
  mkdir -p "$OUT/$1"
  (cd "$LOGS" && timeout 300 npx -y @modelcontextprotocol/conformance@0.1.13 server --url "$2" -o "$OUT/$1" >"$OUT/$1.txt" 2>&1) || true
  node -e '
const fs = require("fs"), path = require("path");
const dir = process.argv[1], name = process.argv[2];
const rows = [];
for (const d of fs.readdirSync(dir)) {
  const f = path.join(dir, d, "checks.json");
  if (!fs.existsSync(f)) continue;
  const checks = JSON.parse(fs.readFileSync(f, "utf8"));
  const failed = checks.filter((c) => c.status === "FAILURE").map((c) => c.id);
  rows.push(`${failed.length ? "FAIL" : "PASS"} ${d.replace(/^server-/, "").replace(/-\d{4}-\d\d-\d\dT.*$/, "")}${failed.length ? "  (" + failed.join(", ") + ")" : ""}`);
}
rows.sort((a, b) => a.slice(5).localeCompare(b.slice(5)));
fs.writeFileSync(dir + ".list", rows.join("\n") + "\n");
console.log(`== ${name}: ${rows.filter((r) => r.startsWith("PASS")).length} of ${rows.length} scenarios pass`);
for (const r of rows) console.log(r);' "$OUT/$1" "$1"
}
conformance direct "http://localhost:$UP_PORT/mcp"
conformance gateway "http://localhost:$GW_PORT/mcp"
conformance gateway+token "http://localhost:$PX_PORT/mcp"
echo "== outcome differs (direct | gateway+token)"
join -1 2 -2 2 <(awk '{print $1, $2}' "$OUT/direct.list" | sort -k2) <(awk '{print $1, $2}' "$OUT/gateway+token.list" | sort -k2) | awk '$2 != $3 {print $1": "$2" | "$3}'
