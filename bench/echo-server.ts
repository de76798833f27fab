/**
 * The gRPC floor for the Authorize benchmark: a grpc-js server (built from the same service
 * definition code as the PDP) whose Authorize decodes the request and answers a fixed response of
 * the PDP's usual size — no tokens, no store, no Cedar, no audit. Prints `echo serving {"port":N}`.
 *   node --import tsx bench/echo-server.ts
 */
import { create } from "@bufbuild/protobuf";
import { timestampFromDate, timestampFromMs } from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import { randomUUID } from "node:crypto";
import { AuthorizationService, AuthorizeResponseSchema } from "../src/gen/mcppdp/v1/authorization_pb.js";
import { Decision, ReasonCode } from "../src/gen/mcppdp/v1/common_pb.js";
import { serverDefinition } from "../src/grpc/service-definition.js";

const server = new grpc.Server();
const answer = () =>
  create(AuthorizeResponseSchema, {
    decision: Decision.ALLOW,
    reasonCode: ReasonCode.ALLOWED,
    reasons: [{ policyId: "tool-allowlist-research", reason: "research agents may call the research tools" }],
    decisionId: randomUUID(),
    policyVersion: "0123456789abcdef",
    evaluatedAt: timestampFromDate(new Date()),
    sessionExpiresAt: timestampFromMs(Date.now() + 60_000),
    message: "permitted by policy",
  });
const handlers: Record<string, grpc.UntypedHandleCall> = {};
for (const m of AuthorizationService.methods) {
  handlers[m.localName] = ((call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
    void call.request;
    callback(null, answer());
  }) as grpc.UntypedHandleCall;
}
server.addService(serverDefinition(AuthorizationService), handlers);
server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, port) => {
  if (err) throw err;
  process.stderr.write(`echo serving {"port":${port}}\n`);
});
process.on("SIGTERM", () => server.tryShutdown(() => process.exit(0)));
