import type { TokenVerifier } from "../identity/types.js";
import type { ApprovalStore } from "../session/approval-types.js";
import type { ToolDefinitionStore } from "../session/tool-definition-types.js";
import type { DecisionStateReader } from "../session/types.js";
import { checkCallerIsServer, requireCaller } from "./check-caller.js";
import { checkArguments, recordedArguments } from "./check-arguments.js";
import { checkAuthorize, type CheckedCall, type RequestLimits } from "./check-question.js";
import { ACTION_OF, approvalCall, cedarInput } from "./derive.js";
import { evaluate } from "./evaluate.js";
import { loadState } from "./load-state.js";
import { firstSeenOfFacts, noveltyFacts, type FirstSeen } from "./novelty.js";
import { applyObligations, isHighImpact } from "./obligations.js";
import { declaredSubject, subjectOf } from "./record.js";
import type { RunDecision } from "./run-decision.js";
import { checkGrant, historyAppend } from "./session-grant.js";
import { checkPin, currentDefinition } from "./tool-pins.js";
import type { AuthorizeQuestion, Decided, DecisionRequest, RequestContext } from "./types.js";
import { NO_ASSERTERS, verifyParties } from "./verify-parties.js";
import { replayFactsOf, type ReplayFacts } from "../policy/replay-facts.js";

/** What Authorize needs. */
export interface AuthorizeDeps {
  readonly run: RunDecision;
  readonly verifier: TokenVerifier;
  readonly state: DecisionStateReader;
  readonly approvals: Pick<ApprovalStore, "consume" | "request">;
  /** Tool definitions reported by servers (pins, annotations). */
  readonly definitions: Pick<ToolDefinitionStore, "get">;
  readonly limits: RequestLimits;
  /** Without a session handle: DENY SESSION_REQUIRED. */
  readonly sessionsRequired: boolean;
  /** How long a requested approval stays usable (never past its session). */
  readonly approvalTtlMs: number;
  /** Callers trusted to assert the user's and the agent's claims instead of their tokens (default: none). */
  readonly claimAsserters?: ReadonlySet<string>;
  /** Clock in ms. Default `Date.now`. */
  readonly now?: () => number;
}

/** What Authorize tells the door besides the outcome. */
export interface AuthorizeValue {
  readonly sessionExpiresAt?: number;
}

/** One Authorize decision. Never throws: every failure is a DENY with its record. */
export type Authorize = (question: AuthorizeQuestion, ctx: RequestContext) => Promise<Decided<AuthorizeValue>>;

/**
 * Builds Authorize: check the fields → the caller → verify the tokens → load the session and
 * revocations (one round trip, with the tool's reported definition) → the grant and the tool's
 * pinned definition → the arguments against the tool's definition →
 * Cedar → obligations → the history append, returned for the runner to commit with the record.
 */
export function createAuthorize(deps: AuthorizeDeps): Authorize {
  const now = deps.now ?? Date.now;
  return (q, ctx) => {
    let call: CheckedCall | undefined;
    let request: DecisionRequest | undefined;
    let approvalId: string | undefined;
    let definitionDigest: string | undefined;
    let recorded: Record<string, string | number | boolean> | undefined;
    let replay: ReplayFacts | undefined;
    let firstSeen: FirstSeen | undefined;
    const subject = () => ({
      ...(request ? subjectOf(request) : declaredSubject(q, ctx.caller)),
      ...(call && !request && { argumentsDigest: call.arguments.digest }),
      ...(approvalId && { approvalId }),
      ...(definitionDigest && { toolDefinitionDigest: definitionDigest }),
      ...(recorded && { recordedArguments: recorded }),
      ...(replay && { replay }),
      ...(firstSeen && { firstSeen }),
    });
    return deps.run("authorize", ctx, subject, async (policy) => {
      call = checkAuthorize(q, deps.limits);
      const caller = requireCaller(ctx.caller);
      checkCallerIsServer(caller, q.serverId);
      const tool = call.item.kind === "tool" ? policy.tool(q.serverId, call.item.name) : undefined;
      // High-impact calls are verified afresh (no verified-token cache); no decision is ever cached.
      const parties = await verifyParties(deps.verifier, q, {
        fresh: isHighImpact(tool),
        caller,
        claimAsserters: deps.claimAsserters ?? NO_ASSERTERS,
        now: now(),
        agentStandIn: ctx.agentStandIn,
      });
      request = { caller, parties, clientId: q.clientId, serverId: q.serverId, purpose: q.purpose, ...call };
      const toolName = call.item.kind === "tool" ? call.item.name : undefined;
      // The reported definition is read beside the session (auto-pipelined into the same round trip).
      const [session, stored] = await Promise.all([
        loadState(deps.state, request, { required: deps.sessionsRequired, now: now() }),
        toolName === undefined ? undefined : deps.definitions.get(q.serverId, toolName),
      ]);
      const current = toolName === undefined ? undefined : currentDefinition(policy, q.serverId, toolName, stored);
      definitionDigest = current?.pin.digest;
      if (session) {
        checkGrant(session, call.item, call.resourceUri);
        if (toolName !== undefined) checkPin(session, toolName, current);
      }
      const typedArguments = checkArguments(policy, request);
      const known = toolName === undefined ? undefined : policy.definition(q.serverId, toolName);
      recorded = toolName === undefined ? undefined : recordedArguments(known, request.arguments?.value);
      const novelty = session?.novelty && noveltyFacts(session.novelty, request, tool);
      firstSeen = novelty && firstSeenOfFacts(novelty, tool);
      const input = cedarInput(request, ACTION_OF[call.item.kind], call.item, {
        ...(novelty && { novelty }),
        ...(session && { session: session.facts }),
        ...(typedArguments !== undefined && { typedArguments }),
        ...(current?.annotations && { toolAnnotations: current.annotations }),
      });
      replay = replayFactsOf(input, known?.recordedArguments);
      const result = await applyObligations(evaluate(policy, input, ctx.logger), {
        policy,
        input,
        tool,
        call: session && approvalCall(request, session.id, call.item),
        approvals: deps.approvals,
        approvalExpiresAt: Math.min(now() + deps.approvalTtlMs, session?.expiresAt ?? Infinity),
      });
      approvalId = result.approvalId;
      if (result.outcome.allow && result.approvalId !== undefined) replay = { ...replay, approvalUsed: true };
      return {
        outcome: result.outcome,
        policyInput: { input, approvalUsed: result.outcome.allow && result.approvalId !== undefined },
        ...(result.outcome.allow && session && { append: historyAppend(session, call.item, tool) }),
        value: session ? { sessionExpiresAt: session.expiresAt } : {},
        ...(result.expiredApproval && { expiredApproval: result.expiredApproval }),
      };
    });
  };
}
