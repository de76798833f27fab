import type { AuditLog } from "../audit/types.js";
import type { ScriptAttachment } from "../redis/script.js";
import type { TokenVerifier } from "../identity/types.js";
import type { PolicyEngine } from "../policy/types.js";
import type { ApprovalStore } from "../session/approval-types.js";
import type { ToolDefinitionStore } from "../session/tool-definition-types.js";
import type { NoveltyStore } from "../session/novelty-types.js";
import type { DecisionStateReader, RevocationStore, SessionStore } from "../session/types.js";
import { createDecideApproval, createListApprovals, type DecideApproval, type ListApprovals } from "./approvals.js";
import { createAuthorize, type Authorize } from "./authorize.js";
import { createAdmission, type Admission } from "./admission.js";
import type { RequestLimits } from "./check-question.js";
import { createFilterTools, type FilterTools } from "./filter-tools.js";
import { createOpenSession, type OpenSession, type SessionLimits } from "./open-session.js";
import { createReportTools, type ReportTools } from "./report-tools.js";
import { createRevoke, type Revoke } from "./revoke.js";
import type { DecisionObserver } from "./decision-observer.js";
import type { HistoryAppend } from "./types.js";
import { createDecisionRunner } from "./run-decision.js";
import { createEndSession, createGetSession, type EndSession, type GetSession } from "./session-ops.js";

/** Every operation of the PDP, transport-neutral: each door (gRPC, AuthZEN, the gateway) calls these. */
export interface DecisionCore {
  readonly authorize: Authorize;
  readonly filterTools: FilterTools;
  readonly openSession: OpenSession;
  readonly getSession: GetSession;
  readonly endSession: EndSession;
  readonly revoke: Revoke;
  readonly listApprovals: ListApprovals;
  readonly decideApproval: DecideApproval;
  readonly reportTools: ReportTools;
}

/** The settings the core decides with. */
export interface DecisionCoreSettings {
  readonly limits: RequestLimits;
  readonly sessions: SessionLimits & {
    /** Authorize/FilterTools without a session handle are DENY SESSION_REQUIRED. */
    readonly required: boolean;
    /** How long a requested approval stays usable, in ms. */
    readonly approvalTtlMs: number;
  };
  /** Every ALLOW waits for a durable audit write. */
  readonly auditRequired: boolean;
  /** How long revocation records live, in ms. */
  readonly revocationTtlMs: number;
  /** Decisions in flight in this process beyond which the answer is DENY OVERLOADED. */
  readonly maxInFlight: number;
  /** The audience approver tokens must name (the PDP's own). */
  readonly pdpAudience: string;
  /** Callers trusted to assert the user's and the agent's claims instead of their tokens (default: none). */
  readonly claimAsserters?: readonly string[];
}

/** What the core is built from: the outside systems, each behind its interface. */
export interface DecisionCoreDeps {
  readonly verifier: TokenVerifier;
  /** The policy version in force; each decision takes one snapshot. */
  readonly policy: () => PolicyEngine;
  readonly state: DecisionStateReader;
  readonly sessions: SessionStore;
  readonly revocations: Pick<RevocationStore, "revoke">;
  readonly approvals: ApprovalStore;
  /** Tool definitions reported by servers (ReportTools; pins and annotations). */
  readonly definitions: ToolDefinitionStore;
  readonly audit: Pick<AuditLog, "append" | "appendDurable">;
  /**
   * With `settings.auditRequired`: turns an ALLOW's history append into an attachment of its durable
   * record's write (one Redis round trip). Given only where the audit's one required sink runs its
   * script where the session's keys are (see `carriedHistory` in app.ts). Absent: two steps.
   */
  readonly carryAppend?: (append: HistoryAppend) => ScriptAttachment;
  /** First-seen relations (third-party trust expansion); absent: no novelty facts. */
  readonly novelty?: NoveltyStore;
  readonly settings: DecisionCoreSettings;
  /** The in-flight bound (default: one of `settings.maxInFlight`). */
  readonly admission?: Admission;
  /** Told about every decision once it is recorded (metrics, traces). */
  readonly observer?: DecisionObserver;
  /** The shadow policy set in force, or undefined while shadow evaluation is off (see run-decision.ts). */
  readonly shadow?: () => PolicyEngine | undefined;
  /** Clock in ms. Default `Date.now`. */
  readonly now?: () => number;
}

/** Composes the decision operations over one runner (one record per decision). */
export function createDecisionCore(deps: DecisionCoreDeps): DecisionCore {
  const { settings: s, verifier, policy, state, sessions, approvals, definitions } = deps;
  const clock = deps.now ? { now: deps.now } : {};
  const claimAsserters = new Set(s.claimAsserters ?? []);
  const run = createDecisionRunner({
    audit: deps.audit,
    sessions,
    ...(deps.carryAppend && { carryAppend: deps.carryAppend }),
    auditRequired: s.auditRequired,
    policy,
    admission: deps.admission ?? createAdmission(s.maxInFlight),
    ...(deps.observer && { observer: deps.observer }),
    ...(deps.shadow && { shadow: deps.shadow }),
    ...(deps.now && { now: () => new Date(deps.now!()) }),
  });
  return {
    authorize: createAuthorize({
      run,
      verifier,
      state,
      approvals,
      definitions,
      limits: s.limits,
      sessionsRequired: s.sessions.required,
      approvalTtlMs: s.sessions.approvalTtlMs,
      claimAsserters,
      ...clock,
    }),
    filterTools: createFilterTools({ run, verifier, state, definitions, sessionsRequired: s.sessions.required, claimAsserters, ...clock }),
    openSession: createOpenSession({
      run,
      verifier,
      state,
      sessions,
      definitions,
      limits: s.sessions,
      claimAsserters,
      ...(deps.novelty && { novelty: deps.novelty }),
      ...(deps.observer?.noveltyEvicted && { onNoveltyEvicted: (n: number) => deps.observer?.noveltyEvicted?.(n) }),
      ...clock,
    }),
    reportTools: createReportTools({ definitions, ...clock }),
    getSession: createGetSession({ sessions }),
    endSession: createEndSession({ run, sessions }),
    revoke: createRevoke({ run, sessions, revocations: deps.revocations, recordTtlMs: s.revocationTtlMs, ...clock }),
    listApprovals: createListApprovals({ approvals }),
    decideApproval: createDecideApproval({ run, verifier, approvals, pdpAudience: s.pdpAudience }),
  };
}
