import { randomUUID } from "node:crypto";
import type { AuditLog } from "../audit/types.js";
import { PdpError } from "../errors.js";
import type { PolicyEngine } from "../policy/types.js";
import type { ApprovalRecord } from "../session/approval-types.js";
import { errorOutcome } from "./outcome.js";
import { approvalSubject, toRecord, type RecordSubject } from "./record.js";
import type { Decided, DecisionKind, Outcome, RequestContext } from "./types.js";

/** What a decision's body returns. */
export interface Step<T> {
  readonly outcome: Outcome;
  /** Kind-specific results for the door. */
  readonly value?: T;
  /** An approval that turned out to have expired unused: an audit event of its own. */
  readonly expiredApproval?: ApprovalRecord;
}

/**
 * Thrown by a step that finds its policy snapshot can no longer evaluate (reloads replaced it
 * while the decision waited on I/O): the runner decides again, from the start, under the version
 * in force. Never leaves the runner.
 */
export class SnapshotSuperseded extends Error {}

/** Most times one decision is started again because its snapshot was superseded. */
const MAX_ATTEMPTS = 3;

/**
 * Runs one decision so that it ends in exactly one record and every failure in a DENY. The body
 * gets ONE policy snapshot: every fact it reads and every evaluation come from that version (the
 * record names it). It returns its outcome or throws; the record is then built once, from
 * `subject()` — a pure function of what the body learned (the lazy entry maker) — and the outcome.
 */
export type RunDecision = <T>(
  kind: DecisionKind,
  ctx: RequestContext,
  subject: () => RecordSubject,
  body: (policy: PolicyEngine) => Promise<Step<T>>,
) => Promise<Decided<T>>;

/** What {@link createDecisionRunner} needs. */
export interface DecisionRunnerDeps {
  readonly audit: Pick<AuditLog, "append" | "appendDurable">;
  /** Every ALLOW waits for a durable audit write; a failed write turns it into DENY AUDIT_UNAVAILABLE. */
  readonly auditRequired: boolean;
  /** The policy version in force; each decision takes one snapshot of it. */
  readonly policy: () => PolicyEngine;
  readonly now?: () => Date;
}

function elapsedUs(since: bigint): number {
  return Number((process.hrtime.bigint() - since) / 1000n);
}

/** Builds the runner shared by every operation that decides. */
export function createDecisionRunner(deps: DecisionRunnerDeps): RunDecision {
  const now = deps.now ?? (() => new Date());
  return async (kind, ctx, subject, body) => {
    let step: Step<never> | Step<unknown> | undefined;
    let error: PdpError | undefined;
    let policy = deps.policy();
    for (let attempt = 1; step === undefined; attempt++) {
      try {
        step = await body(policy);
      } catch (err) {
        if (err instanceof SnapshotSuperseded && attempt < MAX_ATTEMPTS) {
          policy = deps.policy();
          continue;
        }
        error = err instanceof SnapshotSuperseded ? new PdpError("POLICY_ERROR", "the policy set changed too often to decide; denied (fail closed)") : PdpError.from(err);
        if (error.code === "INTERNAL") ctx.logger.error({ err: error.cause }, "internal error during decision");
        step = { outcome: errorOutcome(error) };
      }
    }
    const at = now();
    const facts = subject();
    const version = policy.version;
    const meta = { kind, decisionId: ctx.decisionId, at, version, latencyUs: elapsedUs(ctx.receivedAt) };
    let outcome = step.outcome;
    if (outcome.allow && deps.auditRequired) {
      try {
        await deps.audit.appendDurable(toRecord(meta, facts, outcome));
      } catch (err) {
        error = PdpError.from(err, "AUDIT_UNAVAILABLE");
        outcome = errorOutcome(error);
        deps.audit.append(toRecord(meta, facts, outcome));
      }
    } else {
      deps.audit.append(toRecord(meta, facts, outcome));
    }
    const expired = step.expiredApproval;
    if (expired) {
      const message = `approval ${expired.id} expired unused`;
      const event = { allow: false, reasonCode: "APPROVAL_REQUIRED", reasons: [], message } as const;
      deps.audit.append(
        toRecord({ ...meta, kind: "approval_expired", decisionId: randomUUID(), version: expired.policyVersion }, approvalSubject(expired), event),
      );
    }
    return {
      outcome,
      decisionId: ctx.decisionId,
      version,
      at,
      ...(error === undefined ? { value: step.value as never } : { error }),
    };
  };
}
