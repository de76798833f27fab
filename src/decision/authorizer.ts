import { createHash } from "node:crypto";
import { create } from "@bufbuild/protobuf";
import { timestampFromDate, timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { Logger } from "pino";
import type { SessionConfig } from "../session/config.js";
import { PdpError } from "../errors.js";
import {
  AuthorizeResponseSchema,
  FilterToolsResponseSchema,
  type AuthorizeRequest,
  type AuthorizeResponse,
  type FilterToolsRequest,
  type FilterToolsResponse,
} from "../gen/mcppdp/v1/authorization_pb.js";
import { Decision, ReasonCode } from "../gen/mcppdp/v1/common_pb.js";
import type { Decoded } from "../grpc/service-definition.js";
import type { TokenVerifier, VerifiedCaller } from "../identity/types.js";
import type { DecisionInput, PolicyEngine } from "../policy/types.js";
import type { StateStores } from "../session/state-stores.js";
import type { ApprovalRecord } from "../session/approval-types.js";
import type { SessionRecord } from "../session/types.js";
import { checkIdentityFields, checkToolName, parseAuthorizeRequest, type AuthorizeInput, type RequestLimits } from "./authorize-request.js";
import { applyObligations, evaluateForGrant, isHighImpact } from "./obligations.js";
import { type Outcome } from "./outcome.js";
import type { Decide, Draft } from "./recorder.js";
import { appendRefusal, checkGrant, checkHandle, checkRevocation, checkSession, revocationSubjects } from "./session-checks.js";
import { checkCaller, verifyIdentities, type VerifiedParties } from "./verify-identities.js";

/** What the Authorize pipeline needs. */
export interface AuthorizerDeps {
  readonly verifier: TokenVerifier;
  /** The policy engine in force (read on every decision, so a reload takes effect at once). */
  readonly engine: () => PolicyEngine;
  readonly stores: StateStores;
  readonly sessions: SessionConfig;
  readonly decide: Decide;
  readonly logger: Logger;
  readonly limits: RequestLimits;
  /** Clock in ms. Default `Date.now`. */
  readonly now?: () => number;
}

/** Authenticates the caller of the current RPC (an enforcement point). */
export type Authenticate = () => Promise<VerifiedCaller>;

/** The decision pipeline behind AuthorizationService. Never throws: every failure is a DENY. */
export interface Authorizer {
  authorize(request: Decoded<AuthorizeRequest>, authenticate: Authenticate): Promise<AuthorizeResponse>;
  filterTools(request: Decoded<FilterToolsRequest>, authenticate: Authenticate): Promise<FilterToolsResponse>;
}

const MAX_FILTER_TOOLS = 1000;

function digest(json: string): string {
  return createHash("sha256").update(json).digest("hex");
}

/** Fills the record with the verified parties. */
export function partiesToRecord(draft: Draft, parties: VerifiedParties): void {
  draft.userIssuer = parties.user.issuer;
  draft.userSubject = parties.user.subject;
  draft.idp = parties.user.issuer;
  draft.agentId = parties.workload.agentId;
}

/** A Cedar request in verified terms. */
export function decisionInput(
  parties: VerifiedParties,
  req: { clientId: string; serverId: string; purpose: string },
  rest: Omit<DecisionInput, "agent" | "user" | "clientId" | "serverId" | "idp" | "purpose">,
): DecisionInput {
  return {
    agent: { id: parties.workload.agentId, trustDomain: parties.workload.trustDomain },
    user: { issuer: parties.user.issuer, subject: parties.user.subject, scopes: parties.user.scopes },
    clientId: req.clientId,
    serverId: req.serverId,
    idp: parties.user.issuer,
    purpose: req.purpose,
    ...rest,
  };
}

/** The item a request asks for, as grants and history name it. */
function requested(input: AuthorizeInput): { kind: "tool" | "resource" | "prompt"; name: string; history: string } {
  if (input.action === "read_resource") return { kind: "resource", name: input.resourceUri!, history: `resource:${input.resourceUri}` };
  if (input.action === "get_prompt") return { kind: "prompt", name: input.tool!, history: `prompt:${input.tool}` };
  return { kind: "tool", name: input.tool!, history: input.tool! };
}

/** Builds the Authorize / FilterTools pipeline: validate → caller → verify → session → grant → Cedar → history → record. */
export function createAuthorizer(deps: AuthorizerDeps): Authorizer {
  const now = deps.now ?? Date.now;
  const { stores } = deps;

  /** Verifies, loads the session and checks revocations in one store round trip. */
  async function establish(
    draft: Draft,
    req: { sessionId: string; userToken: string; workloadToken: string; clientId: string; serverId: string; purpose: string },
    fresh = false,
  ): Promise<{ parties: VerifiedParties; session?: SessionRecord }> {
    const parties = await verifyIdentities(deps.verifier, req, { fresh });
    partiesToRecord(draft, parties);
    if (!req.sessionId) {
      if (deps.sessions.required) throw new PdpError("SESSION_REQUIRED", "a session is required: call OpenSession first");
      const state = await stores.reader.loadForDecision(undefined, revocationSubjects(parties, req.clientId));
      checkRevocation(state.revocation, false);
      return { parties };
    }
    const id = checkHandle(req.sessionId);
    const state = await stores.reader.loadForDecision(id, revocationSubjects(parties, req.clientId, id));
    return { parties, session: checkSession(state, { parties, ...req }, now()) };
  }

  /** An approval that expired unused is an audit event of its own. */
  const recordExpiry = (a: ApprovalRecord) =>
    deps.decide("approval_expired", async (draft) => {
      Object.assign(draft, { approvalId: a.id, sessionId: a.sessionId, agentId: a.agentId, userIssuer: a.userIssuer, userSubject: a.userSubject });
      Object.assign(draft, { clientId: a.clientId, serverId: a.serverId, idp: a.userIssuer, tool: a.tool, purpose: a.purpose, argumentsDigest: a.argumentsDigest });
      const message = `approval ${a.id} expired unused`;
      return { outcome: { allow: false, reasonCode: ReasonCode.APPROVAL_REQUIRED, reasons: [], message }, version: a.policyVersion };
    });

  return {
    async authorize(request, authenticate) {
      const r = await deps.decide<{ expiresAt?: number }>("authorize", async (draft) => {
        if (!request.ok) throw new PdpError("INVALID_REQUEST", "request message does not decode");
        const m = request.message;
        Object.assign(draft, { clientId: m.clientId, serverId: m.serverId, tool: m.tool, purpose: m.purpose });
        if (m.sessionId) draft.sessionId = m.sessionId;
        if (m.resourceUri) draft.resourceUri = m.resourceUri;
        const input = parseAuthorizeRequest(m, deps.limits);
        draft.action = input.action;
        draft.argumentsDigest = digest(input.argumentsJson);
        const caller = await authenticate();
        draft.caller = caller.id;
        checkCaller(caller, input.serverId);
        const item = requested(input);
        const tool = item.kind === "tool" ? deps.engine().tool(input.serverId, item.name) : undefined;
        // High-impact calls are verified afresh (no verified-token cache); no decision is ever cached.
        const { parties, session } = await establish(draft, input, isHighImpact(tool));
        if (session) checkGrant(session, item.kind, item.name);
        const engine = deps.engine();
        const cedarInput = decisionInput(parties, input, {
          action: input.action,
          ...(input.tool !== undefined && { tool: input.tool }),
          ...(input.resourceUri !== undefined && { resourceUri: input.resourceUri }),
          arguments: input.arguments,
          ...(session && { session: session.facts }),
        });
        const first = engine.evaluate(cedarInput);
        if (first.errors.length) deps.logger.warn({ errors: first.errors }, "policy evaluation errors");
        const call = session && {
          sessionId: session.id,
          agentId: parties.workload.agentId,
          userIssuer: parties.user.issuer,
          userSubject: parties.user.subject,
          clientId: input.clientId,
          serverId: input.serverId,
          tool: item.kind === "resource" ? "" : item.name,
          resourceUri: input.resourceUri ?? "",
          argumentsDigest: draft.argumentsDigest!,
          purpose: input.purpose,
        };
        const { outcome, decision, approvalId } = await applyObligations(first, {
          engine,
          input: cedarInput,
          tool,
          session,
          call,
          approvals: stores.approvals,
          approvalExpiresAt: Math.min(now() + deps.sessions.approvalTtlSeconds * 1000, session?.expiresAt ?? Infinity),
          onExpired: (expired) => void recordExpiry(expired),
        });
        if (approvalId) draft.approvalId = approvalId;
        if (outcome.allow && session) {
          const appended = await stores.sessions.appendCall(session.id, {
            tool: item.history,
            labels: tool?.labels ?? [],
            risk: tool?.risk ?? 0,
          });
          if (!appended.ok) throw appendRefusal(appended.reason);
        }
        return { outcome, version: decision.version, extra: { ...(session && { expiresAt: session.expiresAt }) } };
      });
      return create(AuthorizeResponseSchema, {
        decision: r.outcome.allow ? Decision.ALLOW : Decision.DENY,
        reasonCode: r.outcome.reasonCode,
        reasons: r.outcome.reasons.map((p) => ({ policyId: p.policyId, reason: p.reason })),
        obligations: [...(r.outcome.obligations ?? [])],
        decisionId: r.decisionId,
        policyVersion: r.version,
        evaluatedAt: timestampFromDate(r.at),
        ...(r.extra?.expiresAt !== undefined && { sessionExpiresAt: timestampFromMs(r.extra.expiresAt) }),
        message: r.outcome.message,
      });
    },

    async filterTools(request, authenticate) {
      const r = await deps.decide<string[]>("filter_tools", async (draft) => {
        if (!request.ok) throw new PdpError("INVALID_REQUEST", "request message does not decode");
        const m = request.message;
        Object.assign(draft, { clientId: m.clientId, serverId: m.serverId, purpose: m.purpose });
        if (m.sessionId) draft.sessionId = m.sessionId;
        checkIdentityFields(m);
        if (m.tools.length > MAX_FILTER_TOOLS) throw new PdpError("INVALID_REQUEST", `at most ${MAX_FILTER_TOOLS} tools`);
        m.tools.forEach(checkToolName);
        const caller = await authenticate();
        draft.caller = caller.id;
        checkCaller(caller, m.serverId);
        const { parties, session } = await establish(draft, m);
        const engine = deps.engine();
        const visible = m.tools.filter(
          (tool) =>
            (!session || session.grantedTools.includes(tool)) &&
            // A tool that needs an approval or a wider scope is still shown: calling it asks for them.
            evaluateForGrant(engine, decisionInput(parties, m, { action: "call_tool", tool, ...(session && { session: session.facts }) })).decision === "allow",
        );
        const outcome: Outcome = {
          allow: true,
          reasonCode: ReasonCode.ALLOWED,
          reasons: [],
          message: `${visible.length} of ${m.tools.length} tools visible`,
        };
        return { outcome, version: engine.version, extra: visible };
      });
      return create(FilterToolsResponseSchema, {
        tools: r.extra ?? [],
        decisionId: r.decisionId,
        policyVersion: r.version,
        reasonCode: r.outcome.reasonCode,
        message: r.outcome.message,
      });
    },
  };
}
