#!/usr/bin/env bash
# The gateway demo driven by the MCP Inspector CLI (README "Gateway"): starts a development-mode
# PDP and `mcp-pdp gateway` in front of @modelcontextprotocol/server-everything (stdio) on free
# ports, then lists the tools and calls one allowed and one refused tool with nothing but a bearer
# token, and shows the 401 a client without a token gets. Stops both on exit.
#   scripts/gateway-inspector.sh            (needs dist/: npm run build; npx fetches the Inspector)
set -euo pipefail
cd "$(dirname "$0")/.."
free_port() { node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})'; }
PDP_PORT=$(free_port)
GW_PORT=$(free_port)
HTTP_PORT=$(free_port)
RESOURCE=http://127.0.0.1:8080/mcp   # the demo's resource in the bundled cedar/ (policies/gateway-demo.cedar)
LOGS=$(mktemp -d)
node bin/mcp-pdp.js serve --port "$PDP_PORT" --http-port "$HTTP_PORT" >"$LOGS/pdp.log" 2>&1 &
PDP_PID=$!
node bin/mcp-pdp.js gateway --port "$GW_PORT" --pdp "127.0.0.1:$PDP_PORT" --resource "$RESOURCE" --list-denied show --log-level warn \
  --upstream-command "node node_modules/@modelcontextprotocol/server-everything/dist/index.js stdio" >"$LOGS/gateway.log" 2>&1 &
GW_PID=$!
trap 'kill $GW_PID $PDP_PID 2>/dev/null; wait 2>/dev/null || true' EXIT
# Both must be up before the first call (a gateway without its PDP denies PDP_UNAVAILABLE, fail closed).
for _ in $(seq 1 300); do grep -q "mcp-pdp serving" "$LOGS/pdp.log" && grep -q "mcp-pdp gateway:" "$LOGS/gateway.log" && break; sleep 0.2; done
URL=http://127.0.0.1:$GW_PORT/mcp
TOKEN=$(node bin/mcp-pdp.js dev token user --aud "$RESOURCE")
inspector() { npx -y @modelcontextprotocol/inspector@2.12 --cli "$URL" --header "Authorization: Bearer $TOKEN" "$@" 2>/dev/null || true; }
echo "== tools/list (name: description)"
inspector --method tools/list | node -e 'let t="";process.stdin.on("data",d=>t+=d).on("end",()=>{for(const x of JSON.parse(t).tools)console.log(`${x.name}: ${(x.description||"").slice(0,70)}`)})'
echo "== tools/call echo (allowed)"
inspector --method tools/call --tool-name echo --tool-arg message=hello
echo "== tools/call get-env (refused)"
inspector --method tools/call --tool-name get-env
echo "== no token"
curl -s -o /dev/null -D - -X POST "$URL" -H 'content-type: application/json' -d '{"jsonrpc":"2.0","id":1,"method":"tools/list"}' | grep -i -E '^HTTP|^www-authenticate'
