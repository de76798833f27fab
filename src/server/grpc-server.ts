import * as grpc from "@grpc/grpc-js";
import type { DescFile, DescService } from "@bufbuild/protobuf";
import { readFileSync } from "node:fs";
import type { Logger } from "pino";
import type { TlsConfig } from "./config.js";
import type { PolicyArchive } from "../audit/policy-archive.js";
import type { AuditReader } from "../audit/types.js";
import type { DecisionCore } from "../decision/decision-core.js";
import { Health, file_grpc_health_v1_health } from "../gen/grpc/health/v1/health_pb.js";
import { ServerReflection, file_grpc_reflection_v1_reflection } from "../gen/grpc/reflection/v1/reflection_pb.js";
import { AdminService, file_mcppdp_v1_admin } from "../gen/mcppdp/v1/admin_pb.js";
import { ApprovalService, file_mcppdp_v1_approval } from "../gen/mcppdp/v1/approval_pb.js";
import { AuditService, file_mcppdp_v1_audit } from "../gen/mcppdp/v1/audit_pb.js";
import { AuthorizationService, file_mcppdp_v1_authorization } from "../gen/mcppdp/v1/authorization_pb.js";
import { SessionService, file_mcppdp_v1_session } from "../gen/mcppdp/v1/session_pb.js";
import type { PolicyEngine } from "../policy/types.js";
import { adminHandlers } from "./admin-service.js";
import { approvalHandlers } from "./approval-service.js";
import { auditHandlers } from "./audit-service.js";
import { authorizationHandlers } from "./authorization-service.js";
import type { CallerAuthenticator } from "./caller-auth.js";
import { createHealthService, type HealthService } from "./health-service.js";
import { addReflection } from "./reflection-service.js";
import { sessionHandlers } from "./session-service.js";
import type { Tracing } from "../telemetry/tracing.js";
import { implement } from "./unary.js";

/** What the gRPC door needs. */
export interface GrpcServerDeps {
  /** The transport-neutral decision operations. */
  readonly core: DecisionCore;
  /** The decision audit, read by AuditService. */
  readonly audit: AuditReader;
  /** Policy texts by version, for ExplainDecision. */
  readonly archive: PolicyArchive;
  /** The policy version in force (GetPolicyStatus). */
  readonly policy: () => PolicyEngine;
  readonly authenticate: CallerAuthenticator;
  readonly logger: Logger;
  readonly maxMessageBytes: number;
  /** Largest Authorize request (tokens, arguments and fields): a larger one is refused undecoded. */
  readonly maxAuthorizeBytes: number;
  /** With tracing on: a span per RPC, parented by the caller's `traceparent` metadata. */
  readonly tracing?: Tracing;
}

/** The API services, in the order they are registered. */
export const API_SERVICES: readonly DescService[] = [AuthorizationService, SessionService, AdminService, ApprovalService, AuditService];
const API_FILES: readonly DescFile[] = [
  file_mcppdp_v1_authorization,
  file_mcppdp_v1_session,
  file_mcppdp_v1_admin,
  file_mcppdp_v1_approval,
  file_mcppdp_v1_audit,
  file_grpc_health_v1_health,
  file_grpc_reflection_v1_reflection,
];

/** Server credentials: TLS (optionally requiring a client certificate) or plaintext. */
export function serverCredentials(tls: TlsConfig | undefined): grpc.ServerCredentials {
  if (!tls) return grpc.ServerCredentials.createInsecure();
  return grpc.ServerCredentials.createSsl(
    tls.caFile ? readFileSync(tls.caFile) : null,
    [{ cert_chain: readFileSync(tls.certFile), private_key: readFileSync(tls.keyFile) }],
    tls.requireClientCert,
  );
}

/**
 * Builds the gRPC door: every API service's handlers translate proto ⇄ domain and call the one
 * decision core; health is NOT_SERVING until the app says otherwise; reflection lists everything.
 */
export function createGrpcServer(deps: GrpcServerDeps): { server: grpc.Server; health: HealthService } {
  const server = new grpc.Server({
    "grpc.max_receive_message_length": deps.maxMessageBytes,
    "grpc.max_send_message_length": 16 * deps.maxMessageBytes,
  });
  const edge = { authenticate: deps.authenticate, logger: deps.logger, ...(deps.tracing && { tracing: deps.tracing }) };
  implement(server, AuthorizationService, authorizationHandlers(deps.core), edge, { authorize: deps.maxAuthorizeBytes });
  implement(server, SessionService, sessionHandlers(deps.core), edge);
  implement(server, AdminService, adminHandlers(deps.core, deps.policy), edge);
  implement(server, ApprovalService, approvalHandlers(deps.core), edge);
  implement(server, AuditService, auditHandlers({ audit: deps.audit, archive: deps.archive }), edge);

  const names = API_SERVICES.map((s) => s.typeName);
  const health = createHealthService(names);
  health.addToServer(server);
  addReflection(server, [...names, Health.typeName, ServerReflection.typeName], API_FILES);
  return { server, health };
}
