import type { PolicyArchive } from "../audit/policy-archive.js";
import { explainRecord } from "../audit/policy-archive.js";
import { filterFromMessage, recordToMessage } from "../audit/record-proto.js";
import type { AuditReader } from "../audit/types.js";
import { requireOperator } from "../decision/check-caller.js";
import type { RequestContext } from "../decision/types.js";
import { PdpError } from "../errors.js";
import type { AuditService } from "../gen/mcppdp/v1/audit_pb.js";
import type { Decoded } from "../grpc/service-definition.js";
import { decodedOrThrow, type ServiceHandlers } from "./unary.js";

/** What the AuditService handlers need. */
export interface AuditServiceDeps {
  /** Where records are read (the AuditLog, or one sink's reader). */
  readonly audit: AuditReader;
  /** Policy texts by version, for ExplainDecision. Without it, explanations say the version is not archived. */
  readonly archive?: PolicyArchive;
}

type Methods = typeof AuditService extends { method: infer M } ? M : never;

/**
 * The AuditService handlers (QueryDecisions, GetDecision, VerifyAuditChain, ExplainDecision). Each
 * is refused (PERMISSION_DENIED) unless the caller is an operator. Reading the audit is not a
 * decision: failures are statuses.
 */
export function auditHandlers(deps: AuditServiceDeps): ServiceHandlers<Methods> {
  const { audit } = deps;
  const operatorRequest = <T>(request: Decoded<T>, ctx: RequestContext): T => {
    requireOperator(ctx.caller);
    return decodedOrThrow(request);
  };
  const getStored = async (decisionId: string) => {
    if (!decisionId || decisionId.length > 200) throw new PdpError("INVALID_REQUEST", "decision_id is required");
    const stored = await audit.get(decisionId);
    if (!stored) throw new PdpError("NOT_FOUND", `no record of decision ${decisionId}`);
    return stored;
  };

  return {
    async queryDecisions(request, ctx) {
      const m = operatorRequest(request, ctx);
      if (m.pageSize < 0) throw new PdpError("INVALID_REQUEST", "page_size must be ≥ 0");
      const page = await audit.query(filterFromMessage(m), {
        ...(m.pageSize > 0 && { limit: m.pageSize }),
        ...(m.pageToken && { cursor: m.pageToken }),
      });
      return {
        records: page.records.map(recordToMessage),
        nextPageToken: page.nextCursor ?? "",
      };
    },

    async getDecision(request, ctx) {
      const m = operatorRequest(request, ctx);
      return { record: recordToMessage(await getStored(m.decisionId)) };
    },

    async verifyAuditChain(request, ctx) {
      operatorRequest(request, ctx);
      const v = await audit.verifyChain();
      return {
        ok: v.ok,
        checked: BigInt(v.checked),
        firstBadSequence: BigInt(v.problem?.sequence ?? 0),
        problem: v.problem ? `${v.problem.kind}: ${v.problem.message}` : "",
        firstBadDecisionId: v.problem?.decisionId ?? "",
        firstBadEntryId: v.problem?.entryId ?? "",
        firstSequence: BigInt(v.firstSequence),
        lastSequence: BigInt(v.lastSequence),
        headHash: v.headHash,
      };
    },

    async explainDecision(request, ctx) {
      const m = operatorRequest(request, ctx);
      const stored = await getStored(m.decisionId);
      const x = deps.archive ? await explainRecord(stored.record, deps.archive) : undefined;
      return {
        record: recordToMessage(stored),
        versionArchived: x?.versionArchived ?? false,
        policies: (x?.policies ?? stored.record.reasons.map((r) => ({ policyId: r.policyId, file: "", line: 0, text: "" }))).map((p) => ({
          policyId: p.policyId,
          file: p.file,
          line: p.line,
          text: p.text,
        })),
      };
    },
  };
}
