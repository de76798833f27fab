#!/usr/bin/env node
// Docker HEALTHCHECK for the PDP: one grpc.health.v1.Health/Check call ("" = the whole server).
// Exit 0 when SERVING, 1 otherwise (NOT_SERVING, unreachable, slower than 2 s). No
// grpc_health_probe binary needed: it uses the image's own grpc-js and generated health messages.
//   MCP_PDP_HEALTH_ADDRESS  default 127.0.0.1:$MCP_PDP_PORT (50051)
//   MCP_PDP_HEALTH_CA_FILE  a CA bundle: check over TLS instead of plaintext
//   MCP_PDP_HEALTH_SERVICE  a service name to check instead of the whole server
import { readFileSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";
import { createClient } from "../dist/grpc/client.js";
import { Health, HealthCheckResponse_ServingStatus } from "../dist/gen/grpc/health/v1/health_pb.js";

const env = process.env;
const address = env.MCP_PDP_HEALTH_ADDRESS ?? `127.0.0.1:${env.MCP_PDP_PORT ?? 50051}`;
const credentials = env.MCP_PDP_HEALTH_CA_FILE ? grpc.credentials.createSsl(readFileSync(env.MCP_PDP_HEALTH_CA_FILE)) : undefined;
const client = createClient(Health, address, credentials ? { credentials } : {});
try {
  const res = await client.check({ service: env.MCP_PDP_HEALTH_SERVICE ?? "" }, { timeoutMs: 2000 });
  const ok = res.status === HealthCheckResponse_ServingStatus.SERVING;
  process.stdout.write(`${HealthCheckResponse_ServingStatus[res.status]}\n`);
  process.exitCode = ok ? 0 : 1;
} catch (err) {
  process.stdout.write(`health check failed: ${err.message}\n`);
  process.exitCode = 1;
} finally {
  client.close();
}
