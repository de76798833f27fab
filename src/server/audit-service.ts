import * as grpc from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import type { Logger } from "pino";
import { explainRecord, type PolicyArchive } from "../audit/policy-archive.js";
import { filterFromMessage, recordToMessage } from "../audit/record-proto.js";
import type { AuditReader } from "../audit/types.js";
import { PdpError } from "../errors.js";
import {
  ExplainDecisionResponseSchema,
  GetDecisionResponseSchema,
  QueryDecisionsResponseSchema,
  VerifyAuditChainResponseSchema,
  type ExplainDecisionRequest,
  type GetDecisionRequest,
  type QueryDecisionsRequest,
} from "../gen/mcppdp/v1/audit_pb.js";
import type { Decoded } from "../grpc/service-definition.js";
import { requireOperator, type CallerAuthenticator } from "./caller-auth.js";
import { toServiceError } from "./grpc-status.js";

/** What the AuditService handlers need. */
export interface AuditServiceDeps {
  /** Where records are read (the AuditLog, or one sink's reader). */
  readonly audit: AuditReader;
  /** Policy texts by version, for ExplainDecision. Without it, explanations say the version is not archived. */
  readonly archive?: PolicyArchive;
  /** Authenticates the caller; every audit RPC needs an operator. */
  readonly authenticate: CallerAuthenticator;
  /** Operational logger (internal failures only). */
  readonly logger: Logger;
}

type Call = grpc.ServerUnaryCall<Decoded<unknown>, unknown>;

/** No record of that decision: NOT_FOUND (PdpError has no code for it; it is not a decision outcome). */
class NotFound extends Error {}

function decoded<T>(call: Call): T {
  const r = call.request as Decoded<T>;
  if (!r.ok) throw new PdpError("INVALID_REQUEST", "request message does not decode");
  return r.message;
}

/**
 * The AuditService handlers (QueryDecisions, GetDecision, VerifyAuditChain, ExplainDecision) for
 * `server.addService(serverDefinition(AuditService), auditServiceHandlers(deps))`. Each call is
 * authenticated first and refused (PERMISSION_DENIED) unless the caller is an operator.
 */
export function auditServiceHandlers(deps: AuditServiceDeps): grpc.UntypedServiceImplementation {
  const { audit, authenticate, logger } = deps;
  const unary =
    (handler: (call: Call) => Promise<unknown>): grpc.handleUnaryCall<Decoded<unknown>, unknown> =>
    (call, callback) => {
      (async () => {
        requireOperator(await authenticate(call));
        return handler(call);
      })().then(
        (res) => callback(null, res),
        (err: unknown) => {
          if (err instanceof NotFound) return callback({ code: grpc.status.NOT_FOUND, details: err.message });
          const e = toServiceError(err);
          if (e.code === grpc.status.INTERNAL || e.code === grpc.status.UNAVAILABLE)
            logger.error({ err, path: call.getPath() }, "audit RPC failed");
          callback(e);
        },
      );
    };

  const getStored = async (decisionId: string) => {
    if (!decisionId || decisionId.length > 200) throw new PdpError("INVALID_REQUEST", "decision_id is required");
    const stored = await audit.get(decisionId);
    if (!stored) throw new NotFound(`no record of decision ${decisionId}`);
    return stored;
  };

  return {
    queryDecisions: unary(async (call) => {
      const m = decoded<QueryDecisionsRequest>(call);
      if (m.pageSize < 0) throw new PdpError("INVALID_REQUEST", "page_size must be ≥ 0");
      const page = await audit.query(filterFromMessage(m), {
        ...(m.pageSize > 0 && { limit: m.pageSize }),
        ...(m.pageToken && { cursor: m.pageToken }),
      });
      return create(QueryDecisionsResponseSchema, {
        records: page.records.map(recordToMessage),
        nextPageToken: page.nextCursor ?? "",
      });
    }),

    getDecision: unary(async (call) => {
      const m = decoded<GetDecisionRequest>(call);
      return create(GetDecisionResponseSchema, { record: recordToMessage(await getStored(m.decisionId)) });
    }),

    verifyAuditChain: unary(async (call) => {
      decoded(call);
      const v = await audit.verifyChain();
      return create(VerifyAuditChainResponseSchema, {
        ok: v.ok,
        checked: BigInt(v.checked),
        firstBadSequence: BigInt(v.problem?.sequence ?? 0),
        problem: v.problem ? `${v.problem.kind}: ${v.problem.message}` : "",
        firstBadDecisionId: v.problem?.decisionId ?? "",
        firstBadEntryId: v.problem?.entryId ?? "",
        firstSequence: BigInt(v.firstSequence),
        lastSequence: BigInt(v.lastSequence),
        headHash: v.headHash,
      });
    }),

    explainDecision: unary(async (call) => {
      const m = decoded<ExplainDecisionRequest>(call);
      const stored = await getStored(m.decisionId);
      const x = deps.archive ? await explainRecord(stored.record, deps.archive) : undefined;
      return create(ExplainDecisionResponseSchema, {
        record: recordToMessage(stored),
        versionArchived: x?.versionArchived ?? false,
        policies: (x?.policies ?? stored.record.reasons.map((r) => ({ policyId: r.policyId, file: "", line: 0, text: "" }))).map((p) => ({
          policyId: p.policyId,
          file: p.file,
          line: p.line,
          text: p.text,
        })),
      });
    }),
  };
}
