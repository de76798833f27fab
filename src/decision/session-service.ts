import { create } from "@bufbuild/protobuf";
import { timestampFromMs, type Duration } from "@bufbuild/protobuf/wkt";
import type { SessionConfig } from "../session/config.js";
import { PdpError } from "../errors.js";
import { Decision, ReasonCode } from "../gen/mcppdp/v1/common_pb.js";
import {
  EndSessionResponseSchema,
  GetSessionResponseSchema,
  OpenSessionResponseSchema,
  type EndSessionRequest,
  type EndSessionResponse,
  type GetSessionRequest,
  type GetSessionResponse,
  type OpenSessionRequest,
  type OpenSessionResponse,
  type RefusedItem,
} from "../gen/mcppdp/v1/session_pb.js";
import type { Decoded } from "../grpc/service-definition.js";
import type { TokenVerifier, VerifiedCaller } from "../identity/types.js";
import type { DecisionInput, PolicyEngine } from "../policy/types.js";
import { newSessionId } from "../session/session-id.js";
import { sessionStatus } from "../session/session-status.js";
import type { StateStores } from "../session/state-stores.js";
import type { SessionRecord } from "../session/types.js";
import { checkIdentityFields, checkToolName, requireField } from "./authorize-request.js";
import type { Authenticate } from "./authorizer.js";
import { decisionInput, partiesToRecord } from "./authorizer.js";
import { evaluateForGrant } from "./obligations.js";
import { policyOutcome, type Outcome } from "./outcome.js";
import type { Decide } from "./recorder.js";
import { checkHandle, checkRevocation, revocationSubjects } from "./session-checks.js";
import { checkCaller, verifyIdentities, type VerifiedParties } from "./verify-identities.js";

/** What the session operations need. */
export interface SessionServiceDeps {
  readonly verifier: TokenVerifier;
  readonly engine: () => PolicyEngine;
  readonly stores: StateStores;
  readonly sessions: SessionConfig;
  readonly decide: Decide;
  /** Clock in ms. Default `Date.now`. */
  readonly now?: () => number;
}

/** SessionService: open a delegated task session, read it, end it. */
export interface SessionService {
  openSession(request: Decoded<OpenSessionRequest>, authenticate: Authenticate): Promise<OpenSessionResponse>;
  /** Throws PdpError (a gRPC status at the edge) when the session is unknown or not the caller's. */
  getSession(request: Decoded<GetSessionRequest>, authenticate: Authenticate): Promise<GetSessionResponse>;
  endSession(request: Decoded<EndSessionRequest>, authenticate: Authenticate): Promise<EndSessionResponse>;
}

const EMPTY_HISTORY = { callCount: 0, tools: [], labels: [], riskTotal: 0 } as const;
const MAX_URI = 2048;

function uniqueList(items: readonly string[], name: string, max: number, check: (s: string) => string): string[] {
  if (items.length > max) throw new PdpError("INVALID_REQUEST", `at most ${max} ${name} per session`);
  return [...new Set(items.map(check))];
}

function ttlMs(ttl: Duration | undefined, config: SessionConfig): number {
  const requested = ttl ? Number(ttl.seconds) * 1000 + Math.floor(ttl.nanos / 1e6) : 0;
  if (requested < 0) throw new PdpError("INVALID_REQUEST", "ttl must not be negative");
  return Math.min(requested || config.defaultTtlSeconds * 1000, config.maxTtlSeconds * 1000);
}

/** A session belongs to the server that opened it; operators may read and end any. */
function checkOwner(caller: VerifiedCaller, session: SessionRecord): void {
  if (caller.operator || caller.via === "development") return;
  if (caller.id !== session.binding.serverId) throw new PdpError("CALLER_UNAUTHORIZED", "this session belongs to another server");
}

/** Builds the session operations. */
export function createSessionService(deps: SessionServiceDeps): SessionService {
  const now = deps.now ?? Date.now;
  const { stores } = deps;

  async function load(id: string): Promise<SessionRecord> {
    const session = await stores.sessions.get(checkHandle(id));
    if (!session) throw new PdpError("SESSION_UNKNOWN", "no such session");
    return session;
  }

  /** Evaluates each requested item; the grant is exactly those that policy permits. */
  function grant(
    engine: PolicyEngine,
    parties: VerifiedParties,
    m: OpenSessionRequest,
    items: { tools: string[]; resources: string[]; prompts: string[] },
  ): { tools: string[]; resources: string[]; prompts: string[]; refused: RefusedItem[] } {
    const refused: RefusedItem[] = [];
    const permitted = (item: string, rest: Pick<DecisionInput, "action" | "tool" | "resourceUri">) => {
      const outcome = policyOutcome(evaluateForGrant(engine, decisionInput(parties, m, { ...rest, session: EMPTY_HISTORY })));
      if (!outcome.allow)
        refused.push({
          $typeName: "mcppdp.v1.RefusedItem",
          item,
          reasonCode: outcome.reasonCode,
          reasons: outcome.reasons.map((r) => ({ $typeName: "mcppdp.v1.Reason", policyId: r.policyId, reason: r.reason })),
        });
      return outcome.allow;
    };
    return {
      tools: items.tools.filter((t) => permitted(t, { action: "call_tool", tool: t })),
      resources: items.resources.filter((r) => permitted(r, { action: "read_resource", resourceUri: r })),
      prompts: items.prompts.filter((p) => permitted(`prompt:${p}`, { action: "get_prompt", tool: p })),
      refused,
    };
  }

  return {
    async openSession(request, authenticate) {
      type Opened = { session?: SessionRecord; refused: RefusedItem[] };
      const r = await deps.decide<Opened>("open_session", async (draft) => {
        if (!request.ok) throw new PdpError("INVALID_REQUEST", "request message does not decode");
        const m = request.message;
        Object.assign(draft, { clientId: m.clientId, serverId: m.serverId, purpose: m.purpose, action: "open_session" });
        checkIdentityFields(m);
        const max = deps.sessions.maxRequestedItems;
        const items = {
          tools: uniqueList(m.tools, "tools", max, checkToolName),
          resources: uniqueList(m.resources, "resources", max, (u) => requireField(u, "resources[]", MAX_URI)),
          prompts: uniqueList(m.prompts, "prompts", max, checkToolName),
        };
        const lifetime = ttlMs(m.ttl, deps.sessions);
        const caller = await authenticate();
        draft.caller = caller.id;
        checkCaller(caller, m.serverId);
        const parties = await verifyIdentities(deps.verifier, m);
        partiesToRecord(draft, parties);
        const state = await stores.reader.loadForDecision(undefined, revocationSubjects(parties, m.clientId));
        checkRevocation(state.revocation, false);
        const engine = deps.engine();
        const opening = engine.evaluate(
          decisionInput(parties, m, { action: "open_session", requestedTtlSeconds: Math.ceil(lifetime / 1000) }),
        );
        const outcome = policyOutcome(opening);
        if (!outcome.allow) return { outcome, version: opening.version, extra: { refused: [] } };
        const granted = grant(engine, parties, m, items);
        const createdAt = now();
        const session: SessionRecord = {
          id: newSessionId(),
          binding: {
            userIssuer: parties.user.issuer,
            userSubject: parties.user.subject,
            agentId: parties.workload.agentId,
            clientId: m.clientId,
            serverId: m.serverId,
            idp: parties.user.issuer,
            purpose: m.purpose,
          },
          grantedTools: granted.tools,
          grantedResources: granted.resources,
          grantedPrompts: granted.prompts,
          createdAt,
          expiresAt: createdAt + lifetime,
          facts: EMPTY_HISTORY,
          state: "active",
        };
        await stores.sessions.create(session);
        draft.sessionId = session.id;
        return { outcome, version: opening.version, extra: { session, refused: granted.refused } };
      });
      const s = r.extra?.session;
      return create(OpenSessionResponseSchema, {
        decision: r.outcome.allow ? Decision.ALLOW : Decision.DENY,
        reasonCode: r.outcome.reasonCode,
        reasons: r.outcome.reasons.map((p) => ({ policyId: p.policyId, reason: p.reason })),
        decisionId: r.decisionId,
        policyVersion: r.version,
        message: r.outcome.message,
        refused: r.extra?.refused ?? [],
        ...(s && {
          sessionId: s.id,
          grantedTools: [...s.grantedTools],
          grantedResources: [...s.grantedResources],
          grantedPrompts: [...s.grantedPrompts],
          expiresAt: timestampFromMs(s.expiresAt),
        }),
      });
    },

    async getSession(request, authenticate) {
      if (!request.ok) throw new PdpError("INVALID_REQUEST", "request message does not decode");
      const caller = await authenticate();
      const s = await load(request.message.sessionId);
      checkOwner(caller, s);
      const b = s.binding;
      return create(GetSessionResponseSchema, {
        session: {
          sessionId: s.id,
          userIssuer: b.userIssuer,
          userSubject: b.userSubject,
          agentId: b.agentId,
          clientId: b.clientId,
          serverId: b.serverId,
          idp: b.idp,
          purpose: b.purpose,
          grantedTools: [...s.grantedTools],
          grantedResources: [...s.grantedResources],
          grantedPrompts: [...s.grantedPrompts],
          callCount: BigInt(s.facts.callCount),
          labels: [...s.facts.labels],
          recentTools: [...s.facts.tools],
          riskTotal: s.facts.riskTotal,
          state: sessionStatus(s, now()),
          createdAt: timestampFromMs(s.createdAt),
          expiresAt: timestampFromMs(s.expiresAt),
        },
      });
    },

    async endSession(request, authenticate) {
      const r = await deps.decide<boolean>("end_session", async (draft) => {
        if (!request.ok) throw new PdpError("INVALID_REQUEST", "request message does not decode");
        draft.sessionId = request.message.sessionId;
        const caller = await authenticate();
        draft.caller = caller.id;
        const s = await load(request.message.sessionId);
        Object.assign(draft, { agentId: s.binding.agentId, userIssuer: s.binding.userIssuer, userSubject: s.binding.userSubject });
        Object.assign(draft, { clientId: s.binding.clientId, serverId: s.binding.serverId, idp: s.binding.idp, purpose: s.binding.purpose });
        checkOwner(caller, s);
        const ended = (await stores.sessions.end(s.id, "ended")) === "changed";
        const outcome: Outcome = { allow: true, reasonCode: ReasonCode.ALLOWED, reasons: [], message: ended ? "session ended" : "session was already over" };
        return { outcome, extra: ended };
      });
      if (r.error) throw r.error;
      return create(EndSessionResponseSchema, { ended: r.extra ?? false });
    },
  };
}
