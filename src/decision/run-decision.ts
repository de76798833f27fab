import { randomUUID } from "node:crypto";
import type { AuditLog } from "../audit/types.js";
import { PdpError } from "../errors.js";
import type { DecisionInput, PolicyEngine } from "../policy/types.js";
import type { ApprovalRecord } from "../session/approval-types.js";
import type { Admission } from "./admission.js";
import { noopDecisionObserver, type DecisionObserver } from "./decision-observer.js";
import { errorOutcome } from "./outcome.js";
import { evaluatedTogether } from "./evaluated-together.js";
import { outcomeUnder, POLICY_REASON_CODES, sameEvaluation, sameOutcome } from "./replay-outcome.js";
import type { ShadowVerdict } from "../audit/decision-record.js";
import { approvalSubject, toRecord, type RecordSubject } from "./record.js";
import type { Decided, DecisionKind, HistoryAppend, Outcome, RequestContext } from "./types.js";
import type { DecisionRecord } from "../audit/decision-record.js";
import type { ScriptAttachment } from "../redis/script.js";
import type { SessionStore } from "../session/types.js";
import { appendHistory, appendRefusal } from "./session-grant.js";

/** What a decision's body returns. */
export interface Step<T> {
  readonly outcome: Outcome;
  /** Kind-specific results for the door. */
  readonly value?: T;
  /** An approval that turned out to have expired unused: an audit event of its own. */
  readonly expiredApproval?: ApprovalRecord;
  /**
   * The policy input the outcome was decided on, and whether an approval for exactly this call was
   * used: the shadow set (when on) is evaluated on this very input.
   */
  readonly policyInput?: { readonly input: DecisionInput; readonly approvalUsed: boolean };
  /**
   * An ALLOW's history append. The runner commits it, never the body: with the durable record in
   * the same write when the audit carries it (`carryAppend`), else before the record; a refusal
   * turns the ALLOW into a DENY with the refusal's reason.
   */
  readonly append?: HistoryAppend;
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
  /** Where a history append goes when the audit does not carry it. */
  readonly sessions: Pick<SessionStore, "appendCall">;
  /**
   * With `auditRequired`: the attachment that lets the durable record's write carry the history
   * append — one round trip, both or neither. Absent: two steps (the append, then the record).
   */
  readonly carryAppend?: (append: HistoryAppend) => ScriptAttachment;
  /** Every ALLOW waits for a durable audit write; a failed write turns it into DENY AUDIT_UNAVAILABLE. */
  readonly auditRequired: boolean;
  /** The policy version in force; each decision takes one snapshot of it. */
  readonly policy: () => PolicyEngine;
  /** The bound on decisions in flight; beyond it a decision is DENY OVERLOADED at once. */
  readonly admission: Admission;
  /** Told about every decision once it is recorded (metrics, traces). Default: nobody. */
  readonly observer?: DecisionObserver;
  /**
   * The shadow policy set in force (`policies.shadowDir`), or undefined when shadow evaluation is
   * off. Each decision that policy made is evaluated under it too, on the same policy input (in
   * the same Cedar call as the live evaluation where the two sets send Cedar the same request);
   * a disagreement is recorded and observed — the answer never changes.
   */
  readonly shadow?: () => PolicyEngine | undefined;
  readonly now?: () => Date;
}

/** How a body ran: its step, the live snapshot it ran under, the shadow set beside it, a failure. */
interface Attempt<T> {
  readonly step: Step<T>;
  readonly policy: PolicyEngine;
  /** The shadow set as the body's evaluations left it (answers of the same Cedar calls kept). */
  readonly shadow?: PolicyEngine | undefined;
  readonly error?: PdpError;
}

function elapsedUs(since: bigint): number {
  return Number((process.hrtime.bigint() - since) / 1000n);
}

/** Builds the runner shared by every operation that decides. */
export function createDecisionRunner(deps: DecisionRunnerDeps): RunDecision {
  const now = deps.now ?? (() => new Date());
  const observer = deps.observer ?? noopDecisionObserver;
  const carry = deps.auditRequired ? deps.carryAppend : undefined;

  /** The shadow set's answer when it disagrees with `outcome` (never throws: the engine does not). */
  function shadowOf(kind: DecisionKind, ran: Attempt<unknown>, outcome: Outcome, ctx: RequestContext): ShadowVerdict | undefined {
    const { shadow: engine, policy: live } = ran;
    const evaluated = ran.step.policyInput;
    if (engine === undefined || evaluated === undefined || !POLICY_REASON_CODES.has(outcome.reasonCode)) return undefined;
    // The policies that can apply (and all else evaluation reads) are the same in both sets: the same answer.
    const same = sameEvaluation(live, engine, evaluated.input);
    const s = same ? outcome : outcomeUnder(engine, evaluated.input, evaluated.approvalUsed);
    const agree =
      same ||
      sameOutcome(
        { allow: outcome.allow, reasonCode: outcome.reasonCode, policies: outcome.reasons.map((r) => r.policyId) },
        { allow: s.allow, reasonCode: s.reasonCode, policies: s.reasons.map((r) => r.policyId) },
      );
    try {
      observer.shadowed?.({ kind, agree, flip: s.allow === outcome.allow ? undefined : s.allow ? "deny_to_allow" : "allow_to_deny" });
    } catch (err) {
      ctx.logger.warn({ err }, "decision observer failed");
    }
    if (agree) return undefined;
    return { decision: s.allow ? "ALLOW" : "DENY", reasonCode: s.reasonCode, policies: s.reasons.map((r) => r.policyId), version: engine.version };
  }

  /**
   * Runs the body under one snapshot; a superseded snapshot starts it again under the version in
   * force. With a shadow set, the body's evaluations evaluate it too (see evaluated-together.ts).
   */
  async function attempt<T>(body: (policy: PolicyEngine) => Promise<Step<T>>, ctx: RequestContext): Promise<Attempt<T>> {
    for (let n = 1; ; n++) {
      const policy = deps.policy();
      const shadowSet = deps.shadow?.();
      const [evaluating, shadow] = shadowSet ? evaluatedTogether(policy, shadowSet) : [policy, undefined];
      try {
        const step = await body(evaluating);
        // Two steps where the audit does not carry the append: it is made here, as the body's last step.
        if (step.outcome.allow && step.append && !carry) await appendHistory(deps.sessions, step.append);
        return { step, policy, shadow };
      } catch (err) {
        if (err instanceof SnapshotSuperseded && n < MAX_ATTEMPTS) continue;
        const error =
          err instanceof SnapshotSuperseded ? new PdpError("POLICY_ERROR", "the policy set changed too often to decide; denied (fail closed)") : PdpError.from(err);
        if (error.code === "INTERNAL") ctx.logger.error({ err: error.cause }, "internal error during decision");
        return { step: { outcome: errorOutcome(error) }, policy, error };
      }
    }
  }

  /** Admission first: beyond the bound the answer is DENY OVERLOADED at once, the body never runs. */
  async function admitted<T>(body: (policy: PolicyEngine) => Promise<Step<T>>, ctx: RequestContext): Promise<Attempt<T>> {
    if (!deps.admission.tryEnter()) {
      const error = new PdpError("OVERLOADED", `the PDP is at its bound of ${deps.admission.limit} decisions in flight; retry shortly`);
      return { step: { outcome: errorOutcome(error) }, policy: deps.policy(), error };
    }
    try {
      return await attempt(body, ctx);
    } finally {
      deps.admission.leave();
    }
  }

  return async (kind, ctx, subject, body) => {
    const ran = await admitted(body, ctx);
    let { error } = ran;
    const at = now();
    const facts = subject();
    const version = ran.policy.version;
    let outcome = ran.step.outcome;
    const shadow = shadowOf(kind, ran, outcome, ctx);
    const meta = { kind, decisionId: ctx.decisionId, at, version, latencyUs: elapsedUs(ctx.receivedAt), ...(shadow && { shadow }) };
    const append = outcome.allow && carry ? ran.step.append : undefined;
    if (outcome.allow && deps.auditRequired) {
      try {
        if (append) {
          // One write: the record with the history append, or — refused — the DENY record instead.
          let refusal: { error: PdpError; record: DecisionRecord } | undefined;
          const refused = (reason: string) => {
            if (!refusal) {
              const e = appendRefusal(reason);
              const { shadow: _shadow, ...plain } = meta;
              refusal = { error: e, record: toRecord(plain, facts, errorOutcome(e)) };
            }
            return refusal.record;
          };
          const attachment = carry!(append);
          const reason = await deps.audit.appendDurable(toRecord(meta, facts, outcome), { attachment, refused });
          if (reason !== undefined) {
            refused(reason);
            error = refusal!.error;
            outcome = errorOutcome(error);
          }
        } else await deps.audit.appendDurable(toRecord(meta, facts, outcome));
      } catch (err) {
        error = PdpError.from(err, "AUDIT_UNAVAILABLE");
        outcome = errorOutcome(error);
        deps.audit.append(toRecord(meta, facts, outcome));
      }
    } else {
      deps.audit.append(toRecord(meta, facts, outcome));
    }
    try {
      observer.decided({
        kind,
        allow: outcome.allow,
        reasonCode: outcome.reasonCode,
        latencyUs: elapsedUs(ctx.receivedAt),
        ...(kind === "open_session" && facts.firstSeen && { firstSeen: facts.firstSeen.kinds }),
      });
    } catch (err) {
      ctx.logger.warn({ err }, "decision observer failed");
    }
    const expired = ran.step.expiredApproval;
    if (expired) {
      const message = `approval ${expired.id} expired unused`;
      const event = { allow: false, reasonCode: "APPROVAL_REQUIRED", reasons: [], message } as const;
      deps.audit.append(toRecord({ ...meta, kind: "approval_expired", decisionId: randomUUID(), version: expired.policyVersion }, approvalSubject(expired), event));
    }
    return {
      outcome,
      decisionId: ctx.decisionId,
      version,
      at,
      ...(error === undefined ? { value: ran.step.value as never } : { error }),
    };
  };
}
