/**
 * Runs the docs MCP server, protected by the PEP, configured by environment variables:
 *
 * | variable | default | meaning |
 * |---|---|---|
 * | `DOCS_SERVER_HOST` | `127.0.0.1` | listen address |
 * | `DOCS_SERVER_PORT` | `8787` | listen port |
 * | `DOCS_SERVER_URI` | `https://docs.example.com/mcp` | this server's canonical URI (token audience) |
 * | `DOCS_SERVER_AUTHORIZATION_SERVERS` | none | comma-separated issuers for the resource metadata |
 * | `DOCS_SERVER_DEFAULT_PURPOSE` | none | purpose when a request declares none |
 * | `PDP_ADDRESS` | `127.0.0.1:50051` | the PDP's gRPC address |
 * | `PDP_TIMEOUT_MS` | `1000` | deadline of each PDP call |
 * | `PDP_CALLER_TOKEN_FILE` | none | file holding this server's caller JWT for the PDP (re-read on every call) |
 * | `PDP_TLS_CA_FILE` | none | CA bundle: talk TLS to the PDP |
 */
import { readFileSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";
import { startDocsServer } from "./start-docs-server.js";

const env = process.env;
const tokenFile = env.PDP_CALLER_TOKEN_FILE;
const caFile = env.PDP_TLS_CA_FILE;
const server = await startDocsServer({
  host: env.DOCS_SERVER_HOST ?? "127.0.0.1",
  port: Number(env.DOCS_SERVER_PORT ?? 8787),
  ...(env.DOCS_SERVER_URI && { serverId: env.DOCS_SERVER_URI }),
  ...(env.DOCS_SERVER_DEFAULT_PURPOSE && { defaultPurpose: env.DOCS_SERVER_DEFAULT_PURPOSE }),
  authorizationServers: (env.DOCS_SERVER_AUTHORIZATION_SERVERS ?? "").split(",").filter(Boolean),
  pdp: {
    address: env.PDP_ADDRESS ?? "127.0.0.1:50051",
    timeoutMs: Number(env.PDP_TIMEOUT_MS ?? 1000),
    ...(tokenFile && { callerToken: () => readFileSync(tokenFile, "utf8").trim() }),
    ...(caFile && { credentials: grpc.credentials.createSsl(readFileSync(caFile)) }),
  },
  onDecision: ({ method, item, decision }) =>
    process.stderr.write(`${JSON.stringify({ msg: "pep decision", method, item, decision: decision.decision, reasonCode: decision.reasonCode, decisionId: decision.decisionId })}\n`),
});
process.stderr.write(`docs-server: ${server.serverId} served at ${server.url}\n`);
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => void server.close().then(() => process.exit(0)));
}
