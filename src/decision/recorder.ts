import { randomUUID } from "node:crypto";
import { hostname } from "node:os";
import type { Logger } from "pino";
import type { DecisionRecord } from "../audit/decision-record.js";
import type { AuditLog } from "../audit/types.js";
import { PdpError } from "../errors.js";
import { errorOutcome, reasonName, type Outcome } from "./outcome.js";

/** The record being filled in while a decision is made. */
export type Draft = { -readonly [K in keyof DecisionRecord]?: DecisionRecord[K] };

/** What one decision step returns. */
export interface StepResult<T> {
  readonly outcome: Outcome;
  /** The policy version it was decided under (default: the one in force). */
  readonly version?: string;
  /** Anything the RPC needs to shape its response. */
  readonly extra?: T;
}

/** A finished decision. */
export interface Decided<T> extends StepResult<T> {
  readonly decisionId: string;
  readonly version: string;
  readonly at: Date;
  /** The failure that made it a DENY, if one did (for RPCs that answer failures with a gRPC status). */
  readonly error?: PdpError;
}

/** Runs decision steps so that every one ends in exactly one record, and every failure in a DENY. */
export type Decide = <T>(kind: string, step: (draft: Draft) => Promise<StepResult<T>>) => Promise<Decided<T>>;

/** What {@link createRecorder} needs. */
export interface RecorderDeps {
  readonly audit: AuditLog;
  /** Every ALLOW waits for a durable audit write; a failed write turns it into DENY AUDIT_UNAVAILABLE. */
  readonly auditRequired: boolean;
  readonly logger: Logger;
  /** The policy version in force (for decisions that never reached Cedar). */
  readonly version: () => string;
  readonly now: () => Date;
}

const INSTANCE = `${hostname()}:${process.pid}`;

/** Builds the `decide` wrapper shared by every RPC that makes a decision. */
export function createRecorder(deps: RecorderDeps): Decide {
  const toRecord = (draft: Draft, kind: string, decisionId: string, started: bigint, at: Date, version: string, outcome: Outcome): DecisionRecord => ({
    ...draft,
    time: at.toISOString(),
    decisionId,
    instance: INSTANCE,
    kind,
    decision: outcome.allow ? "ALLOW" : "DENY",
    reasonCode: reasonName(outcome.reasonCode),
    reasons: outcome.reasons,
    policyVersion: version,
    latencyUs: Number((process.hrtime.bigint() - started) / 1000n),
    ...(!outcome.allow && { message: outcome.message }),
  });

  return async <T>(kind: string, step: (draft: Draft) => Promise<StepResult<T>>): Promise<Decided<T>> => {
    const started = process.hrtime.bigint();
    const decisionId = randomUUID();
    const draft: Draft = { kind, decisionId };
    let result: StepResult<T> & { error?: PdpError };
    try {
      result = await step(draft);
    } catch (err) {
      const e = PdpError.from(err);
      if (e.code === "INTERNAL") deps.logger.error({ err: e.cause, decisionId, kind }, "internal error during decision");
      result = { outcome: errorOutcome(e), error: e };
    }
    const at = deps.now();
    const version = result.version ?? deps.version();
    const record = toRecord(draft, kind, decisionId, started, at, version, result.outcome);
    if (result.outcome.allow && deps.auditRequired) {
      try {
        await deps.audit.appendDurable(record);
      } catch (err) {
        const e = PdpError.from(err, "AUDIT_UNAVAILABLE");
        result = { outcome: errorOutcome(e), error: e };
        deps.audit.append(toRecord(draft, kind, decisionId, started, at, version, result.outcome));
      }
    } else {
      deps.audit.append(record);
    }
    return { ...result, decisionId, version, at };
  };
}
