import { PdpError } from "../errors.js";
import type { TokenVerifier } from "../identity/types.js";
import type { ToolDefinitionStore } from "../session/tool-definition-types.js";
import type { DecisionStateReader } from "../session/types.js";
import { checkCallerIsServer, requireCaller } from "./check-caller.js";
import { checkDelegation, checkName, checkSessionField } from "./check-question.js";
import { cedarInput } from "./derive.js";
import { loadState } from "./load-state.js";
import { evaluateForGrant } from "./obligations.js";
import { done } from "./outcome.js";
import { declaredSubject, subjectOf } from "./record.js";
import type { RunDecision } from "./run-decision.js";
import type { Decided, DecisionRequest, FilterToolsQuestion, RequestContext } from "./types.js";
import { currentDefinition, pinProblem } from "./tool-pins.js";
import { NO_ASSERTERS, verifyParties } from "./verify-parties.js";

/** Most tools one FilterTools may list. */
export const MAX_FILTER_TOOLS = 1000;

/** What FilterTools needs. */
export interface FilterToolsDeps {
  readonly run: RunDecision;
  readonly verifier: TokenVerifier;
  readonly state: DecisionStateReader;
  /** Tool definitions reported by servers: a tool whose definition changed since its pin is hidden. */
  readonly definitions: Pick<ToolDefinitionStore, "getMany">;
  readonly sessionsRequired: boolean;
  /** Callers trusted to assert the user's and the agent's claims instead of their tokens (default: none). */
  readonly claimAsserters?: ReadonlySet<string>;
  readonly now?: () => number;
}

/** Which of the listed tools this session may see (in request order). Never throws. */
export type FilterTools = (question: FilterToolsQuestion, ctx: RequestContext) => Promise<Decided<readonly string[]>>;

/**
 * Builds FilterTools: the same checks as Authorize up to the session, then each tool is shown when
 * the session was granted it, its definition is still the pinned one, and policy would grant it — a tool that needs an approval or a wider
 * scope is still shown: calling it asks for them.
 */
export function createFilterTools(deps: FilterToolsDeps): FilterTools {
  const now = deps.now ?? Date.now;
  return (q, ctx) => {
    let request: DecisionRequest | undefined;
    const subject = () => ({ ...(request ? subjectOf(request) : declaredSubject(q, ctx.caller)) });
    return deps.run("filter_tools", ctx, subject, async (policy) => {
      checkDelegation(q);
      const sessionId = checkSessionField(q.sessionId);
      if (q.tools.length > MAX_FILTER_TOOLS) throw new PdpError("INVALID_REQUEST", `at most ${MAX_FILTER_TOOLS} tools`);
      for (const tool of q.tools) checkName(tool);
      const caller = requireCaller(ctx.caller);
      checkCallerIsServer(caller, q.serverId);
      const parties = await verifyParties(deps.verifier, q, { caller, claimAsserters: deps.claimAsserters ?? NO_ASSERTERS, now: now(), agentStandIn: ctx.agentStandIn });
      request = { caller, parties, clientId: q.clientId, serverId: q.serverId, purpose: q.purpose, ...(sessionId !== undefined && { sessionId }) };
      const [session, reported] = await Promise.all([
        loadState(deps.state, request, { required: deps.sessionsRequired, now: now() }),
        deps.definitions.getMany(q.serverId, q.tools),
      ]);
      const visible = q.tools.filter(
        (tool) =>
          (!session || (session.grantedTools.includes(tool) && !pinProblem(session, tool, currentDefinition(policy, q.serverId, tool, reported.get(tool))))) &&
          evaluateForGrant(policy, cedarInput(request!, "call_tool", { kind: "tool", name: tool }, session && { session: session.facts })).decision === "allow",
      );
      return { outcome: done(`${visible.length} of ${q.tools.length} tools visible`), value: visible };
    });
  };
}
