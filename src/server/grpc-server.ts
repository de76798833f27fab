import * as grpc from "@grpc/grpc-js";
import type { DescFile, DescService } from "@bufbuild/protobuf";
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { readFileSync } from "node:fs";
import type { Logger } from "pino";
import type { TlsConfig } from "./config.js";
import type { PolicyArchive } from "../audit/policy-archive.js";
import type { AuditReader } from "../audit/types.js";
import type { Authorizer } from "../decision/authorizer.js";
import type { ApprovalService as ApprovalOps } from "../decision/approval-service.js";
import type { Revoke } from "../decision/revoker.js";
import type { SessionService as SessionOps } from "../decision/session-service.js";
import { Health, file_grpc_health_v1_health } from "../gen/grpc/health/v1/health_pb.js";
import { ServerReflection, file_grpc_reflection_v1_reflection } from "../gen/grpc/reflection/v1/reflection_pb.js";
import { AdminService, GetPolicyStatusResponseSchema, file_mcppdp_v1_admin } from "../gen/mcppdp/v1/admin_pb.js";
import { ApprovalService, file_mcppdp_v1_approval } from "../gen/mcppdp/v1/approval_pb.js";
import { AuditService, file_mcppdp_v1_audit } from "../gen/mcppdp/v1/audit_pb.js";
import { AuthorizationService, file_mcppdp_v1_authorization } from "../gen/mcppdp/v1/authorization_pb.js";
import { SessionService, file_mcppdp_v1_session } from "../gen/mcppdp/v1/session_pb.js";
import { serverDefinition, type Decoded } from "../grpc/service-definition.js";
import type { PolicyEngine } from "../policy/types.js";
import { auditServiceHandlers } from "./audit-service.js";
import { requireOperator, type CallerAuthenticator } from "./caller-auth.js";
import { toServiceError } from "./grpc-status.js";
import { createHealthService, type HealthService } from "./health-service.js";
import { createReflectionService } from "./reflection-service.js";

/** What the gRPC layer needs. */
export interface GrpcServerDeps {
  readonly authorizer: Authorizer;
  /** The decision audit, read by AuditService. */
  readonly audit: AuditReader;
  /** Policy texts by version, for ExplainDecision. */
  readonly archive: PolicyArchive;
  readonly sessions: SessionOps;
  readonly revoke: Revoke;
  readonly approvals: ApprovalOps;
  readonly authenticate: CallerAuthenticator;
  readonly engine: () => PolicyEngine;
  readonly logger: Logger;
  readonly maxMessageBytes: number;
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

type UnaryCall = grpc.ServerUnaryCall<Decoded<unknown>, unknown>;
type Handler = (call: UnaryCall) => Promise<unknown>;

/** Adapts a promise handler to grpc-js; a thrown error becomes a gRPC status (never internals). */
function unary(logger: Logger, handler: Handler): grpc.handleUnaryCall<Decoded<unknown>, unknown> {
  return (call, callback) => {
    handler(call).then(
      (res) => callback(null, res),
      (err: unknown) => {
        const e = toServiceError(err);
        if (e.code === grpc.status.INTERNAL) logger.error({ err, path: call.getPath() }, "RPC failed");
        callback(e);
      },
    );
  };
}

/** Server credentials: TLS (optionally requiring a client certificate) or plaintext. */
export function serverCredentials(tls: TlsConfig | undefined): grpc.ServerCredentials {
  if (!tls) return grpc.ServerCredentials.createInsecure();
  return grpc.ServerCredentials.createSsl(
    tls.caFile ? readFileSync(tls.caFile) : null,
    [{ cert_chain: readFileSync(tls.certFile), private_key: readFileSync(tls.keyFile) }],
    tls.requireClientCert,
  );
}

/** Builds the grpc-js server with every service registered, health NOT_SERVING until started. */
export function createGrpcServer(deps: GrpcServerDeps): { server: grpc.Server; health: HealthService } {
  const server = new grpc.Server({
    "grpc.max_receive_message_length": deps.maxMessageBytes,
    "grpc.max_send_message_length": 16 * deps.maxMessageBytes,
  });
  const { authorizer, authenticate, logger } = deps;
  const h = (handler: Handler) => unary(logger, handler);

  server.addService(serverDefinition(AuthorizationService), {
    authorize: h((call) => authorizer.authorize(call.request as never, () => authenticate(call))),
    filterTools: h((call) => authorizer.filterTools(call.request as never, () => authenticate(call))),
  });
  server.addService(serverDefinition(AdminService), {
    revoke: h((call) => deps.revoke(call.request as never, () => authenticate(call))),
    getPolicyStatus: h(async (call) => {
      requireOperator(await authenticate(call));
      const s = deps.engine().status();
      return create(GetPolicyStatusResponseSchema, {
        status: {
          version: s.version,
          loadedAt: timestampFromDate(s.loadedAt),
          policyCount: s.policyCount,
          entityCount: s.entityCount,
          lastError: s.lastError ?? "",
          ...(s.lastErrorAt && { lastErrorAt: timestampFromDate(s.lastErrorAt) }),
        },
      });
    }),
  });
  const { sessions } = deps;
  server.addService(serverDefinition(SessionService), {
    openSession: h((call) => sessions.openSession(call.request as never, () => authenticate(call))),
    getSession: h((call) => sessions.getSession(call.request as never, () => authenticate(call))),
    endSession: h((call) => sessions.endSession(call.request as never, () => authenticate(call))),
  });
  server.addService(serverDefinition(AuditService), auditServiceHandlers({ audit: deps.audit, archive: deps.archive, authenticate, logger }));
  server.addService(serverDefinition(ApprovalService), {
    listApprovals: h((call) => deps.approvals.listApprovals(call.request as never, () => authenticate(call))),
    decideApproval: h((call) => deps.approvals.decideApproval(call.request as never, () => authenticate(call))),
  });

  const names = API_SERVICES.map((s) => s.typeName);
  const health = createHealthService(names);
  server.addService(serverDefinition(Health), health.implementation);
  server.addService(
    serverDefinition(ServerReflection),
    createReflectionService([...names, Health.typeName, ServerReflection.typeName], API_FILES),
  );
  return { server, health };
}
