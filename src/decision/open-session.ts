import { PdpError, type ReasonCode } from "../errors.js";
import type { TokenVerifier } from "../identity/types.js";
import type { DeterminingPolicy } from "../policy/types.js";
import { newSessionId } from "../session/session-id.js";
import type { ToolDefinitionStore } from "../session/tool-definition-types.js";
import type { NoveltyStore } from "../session/novelty-types.js";
import type { DecisionStateReader, SessionRecord, SessionStore } from "../session/types.js";
import { checkCallerIsServer, requireCaller } from "./check-caller.js";
import { checkDelegation, checkName, checkUri } from "./check-question.js";
import { ACTION_OF, bindingOf, cedarInput, historyName } from "./derive.js";
import { evaluate } from "./evaluate.js";
import { loadState } from "./load-state.js";
import { firstSeenOfSession, observeNovelty, type FirstSeen } from "./novelty.js";
import { evaluateForGrant } from "./obligations.js";
import { policyOutcome } from "./outcome.js";
import { declaredSubject, subjectOf } from "./record.js";
import type { RunDecision } from "./run-decision.js";
import type { Decided, DecisionRequest, Item, ItemKind, OpenSessionQuestion, RequestContext } from "./types.js";
import { pinsFor } from "./tool-pins.js";
import { NO_ASSERTERS, verifyParties } from "./verify-parties.js";

/** Session lifetimes and limits. */
export interface SessionLimits {
  /** Lifetime of a session opened without a requested TTL, in ms. */
  readonly defaultTtlMs: number;
  /** Hard maximum lifetime; a longer request is capped (policy sees the requested one). */
  readonly maxTtlMs: number;
  /** Most tools, resources and prompts one OpenSession may request (each). */
  readonly maxRequestedItems: number;
}

/** What OpenSession needs. */
export interface OpenSessionDeps {
  readonly run: RunDecision;
  readonly verifier: TokenVerifier;
  readonly state: DecisionStateReader;
  readonly sessions: Pick<SessionStore, "create">;
  /** Tool definitions reported by servers: each granted tool's is pinned in the session. */
  readonly definitions: Pick<ToolDefinitionStore, "getMany">;
  readonly limits: SessionLimits;
  /** Where first-seen relations are kept (third-party trust expansion); absent: novelty off. */
  readonly novelty?: NoveltyStore;
  /** Told how many relations the novelty store evicted for room (metrics). */
  readonly onNoveltyEvicted?: (count: number) => void;
  /** Callers trusted to assert the user's and the agent's claims instead of their tokens (default: none). */
  readonly claimAsserters?: ReadonlySet<string>;
  readonly now?: () => number;
}

/** A requested item that policy did not grant, and why. */
export interface RefusedItem {
  /** As requested; prompts as `prompt:<name>`. */
  readonly item: string;
  readonly reasonCode: ReasonCode;
  readonly reasons: readonly DeterminingPolicy[];
}

/** What OpenSession tells the door besides the outcome. */
export interface OpenedSession {
  /** The new session (only when the decision is ALLOW). */
  readonly session?: SessionRecord;
  readonly refused: readonly RefusedItem[];
}

/** One OpenSession decision. Never throws. */
export type OpenSession = (question: OpenSessionQuestion, ctx: RequestContext) => Promise<Decided<OpenedSession>>;

const EMPTY_HISTORY = { callCount: 0, tools: [], labels: [], riskTotal: 0 } as const;

function requested(q: OpenSessionQuestion, max: number): Item[] {
  const items: Item[] = [];
  const add = (kind: ItemKind, names: readonly string[], field: string, check: (s: string, field: string) => string) => {
    if (names.length > max) throw new PdpError("INVALID_REQUEST", `at most ${max} ${field} per session`);
    for (const name of new Set(names.map((n) => check(n, `${field}[]`)))) items.push({ kind, name });
  };
  add("tool", q.tools, "tools", (n) => checkName(n));
  add("resource", q.resources, "resources", checkUri);
  add("prompt", q.prompts, "prompts", (n) => checkName(n, "prompts[]"));
  return items;
}

/**
 * Builds OpenSession: check the fields → the caller → verify the tokens → revocations → Cedar
 * `open_session` (with the requested TTL) → each requested item judged as for a grant → store the
 * session, bound to the verified parties, granted exactly what policy permits, with the digest of
 * each granted tool's definition where one is known (pinned: see tool-pins.ts).
 */
export function createOpenSession(deps: OpenSessionDeps): OpenSession {
  const now = deps.now ?? Date.now;
  const { limits } = deps;
  return (q, ctx) => {
    let request: DecisionRequest | undefined;
    let sessionId: string | undefined;
    let firstSeen: FirstSeen | undefined;
    const subject = () => ({
      ...(request ? subjectOf(request, "open_session") : { ...declaredSubject(q, ctx.caller), action: "open_session" }),
      ...(sessionId && { sessionId }),
      ...(firstSeen && { firstSeen }),
    });
    return deps.run<OpenedSession>("open_session", ctx, subject, async (policy) => {
      checkDelegation(q);
      const items = requested(q, limits.maxRequestedItems);
      if (q.ttlMs < 0) throw new PdpError("INVALID_REQUEST", "ttl must not be negative");
      const lifetime = Math.min(q.ttlMs || limits.defaultTtlMs, limits.maxTtlMs);
      const caller = requireCaller(ctx.caller);
      checkCallerIsServer(caller, q.serverId);
      const parties = await verifyParties(deps.verifier, q, { caller, claimAsserters: deps.claimAsserters ?? NO_ASSERTERS, now: now(), agentStandIn: ctx.agentStandIn });
      request = { caller, parties, clientId: q.clientId, serverId: q.serverId, purpose: q.purpose };
      await loadState(deps.state, request, { required: false, now: now() });
      const opening = policyOutcome(evaluate(policy, cedarInput(request, "open_session", undefined, { requestedTtlSeconds: Math.ceil(lifetime / 1000) }), ctx.logger));
      if (!opening.allow) return { outcome: opening, value: { refused: [] } };
      const granted: Record<ItemKind, string[]> = { tool: [], resource: [], prompt: [] };
      const refused: RefusedItem[] = [];
      for (const item of items) {
        const outcome = policyOutcome(evaluateForGrant(policy, cedarInput(request, ACTION_OF[item.kind], item, { session: EMPTY_HISTORY })));
        if (outcome.allow) granted[item.kind].push(item.name);
        else refused.push({ item: item.kind === "prompt" ? historyName(item) : item.name, reasonCode: outcome.reasonCode, reasons: outcome.reasons });
      }
      // Only an allowed opening marks its relations seen (a refused attempt never uses up a first sighting).
      const [toolPins, observed] = await Promise.all([
        pinsFor(policy, deps.definitions, q.serverId, granted.tool),
        deps.novelty && observeNovelty(deps.novelty, request, policy, granted.tool),
      ]);
      if (observed?.evicted) deps.onNoveltyEvicted?.(observed.evicted);
      firstSeen = observed && firstSeenOfSession(observed.novelty);
      const createdAt = now();
      const session: SessionRecord = {
        id: newSessionId(),
        binding: bindingOf(request),
        grantedTools: granted.tool,
        grantedResources: granted.resource,
        grantedPrompts: granted.prompt,
        ...(toolPins && { toolPins }),
        ...(observed && { novelty: observed.novelty }),
        createdAt,
        expiresAt: createdAt + lifetime,
        facts: EMPTY_HISTORY,
        state: "active",
      };
      await deps.sessions.create(session);
      sessionId = session.id;
      return { outcome: opening, value: { session, refused } };
    });
  };
}
