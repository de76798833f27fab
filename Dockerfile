# mcp-pdp images, one Dockerfile, three targets:
#   docker build -t mcp-pdp .                                  → the PDP (default, last stage)
#   docker build -t mcp-pdp-docs-server --target docs-server .  → the example MCP server (PEP)
#   docker build -t mcp-pdp-gateway --target gateway .          → the gateway (+ server-everything)
# Both run as the unprivileged `node` user on node:20-slim, with read-only application files.

# ---- build: install with the lockfile, compile, then drop dev dependencies --------------------
FROM node:20-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: no `prepare` before the sources are here, and no binary downloads (buf, esbuild)
# that the runtime does not need.
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
COPY examples ./examples
RUN npm run build \
 && npx tsc examples/docs-server/main.ts --outDir build-examples --rootDir . \
      --module NodeNext --moduleResolution NodeNext --target ES2022 --strict \
      --skipLibCheck --resolveJsonModule --esModuleInterop --verbatimModuleSyntax \
 && npm prune --omit=dev --ignore-scripts --no-audit --no-fund

# ---- common runtime ------------------------------------------------------------------------------
FROM node:20-slim AS runtime
ENV NODE_ENV=production
WORKDIR /app
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY cedar ./cedar

# ---- the example MCP server, guarded by the PEP library -----------------------------------------
FROM runtime AS docs-server
COPY --from=build /app/build-examples ./build-examples
ENV DOCS_SERVER_HOST=0.0.0.0 \
    DOCS_SERVER_PORT=8787
EXPOSE 8787
USER node
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.DOCS_SERVER_PORT||8787)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "build-examples/examples/docs-server/main.js"]

# ---- the gateway, with @modelcontextprotocol/server-everything as its demo upstream ------------
# Any other stdio server: install it in an image FROM this one and pass --upstream-command.
FROM runtime AS gateway
RUN npm install -g --no-audit --no-fund @modelcontextprotocol/server-everything@2026.8.31
EXPOSE 8080
USER node
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/.well-known/oauth-protected-resource').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]
CMD ["node", "bin/mcp-pdp.js", "gateway", "--upstream-command", "mcp-server-everything stdio"]

# ---- the PDP (default target) -------------------------------------------------------------------
FROM runtime AS pdp
COPY examples/docker/grpc-health-check.mjs ./healthcheck/grpc-health-check.mjs
# Listen on every interface inside the container; production mode refuses the dev issuer and
# needs identity issuers and caller authentication (give them in MCP_PDP_CONFIG).
ENV MCP_PDP_MODE=production \
    MCP_PDP_HOST=0.0.0.0 \
    MCP_PDP_PORT=50051
EXPOSE 50051
USER node
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
  CMD ["node", "healthcheck/grpc-health-check.mjs"]
# bin/mcp-pdp.js sets --no-turbo-inline-js-wasm-calls itself (README, "V8 hazard"); it is
# repeated here so the flag is in force before anything at all loads.
CMD ["node", "--no-turbo-inline-js-wasm-calls", "bin/mcp-pdp.js", "serve"]
