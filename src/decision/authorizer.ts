import { createHash, randomUUID } from "node:crypto";
import { hostname } from "node:os";
import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import type { Logger } from "pino";
import type { DecisionLog } from "../audit/decision-log.js";
import type { DecisionRecord } from "../audit/decision-record.js";
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
import type { VerifiedCaller } from "../identity/types.js";
import type { DecisionInput, PolicyEngine } from "../policy/types.js";
import { checkIdentityFields, checkToolName, parseAuthorizeRequest, type RequestLimits } from "./authorize-request.js";
import { errorOutcome, policyOutcome, reasonName, type Outcome } from "./outcome.js";
import { checkCaller, verifyIdentities, type VerifiedParties } from "./verify-identities.js";

/** What the Authorize pipeline needs. */
export interface AuthorizerDeps {
  readonly verifier: import("../identity/types.js").TokenVerifier;
  /** The policy engine in force (read on every decision, so a reload takes effect at once). */
  readonly engine: () => PolicyEngine;
  readonly decisionLog: DecisionLog;
  readonly logger: Logger;
  readonly limits: RequestLimits;
  /** Clock for `evaluated_at`. Default `() => new Date()`. */
  readonly now?: () => Date;
}

/** Authenticates the caller of the current RPC (an enforcement point). */
export type Authenticate = () => Promise<VerifiedCaller>;

/** The decision pipeline behind AuthorizationService. Never throws: every failure is a DENY. */
export interface Authorizer {
  authorize(request: Decoded<AuthorizeRequest>, authenticate: Authenticate): Promise<AuthorizeResponse>;
  filterTools(request: Decoded<FilterToolsRequest>, authenticate: Authenticate): Promise<FilterToolsResponse>;
}

const MAX_FILTER_TOOLS = 1000;
const INSTANCE = `${hostname()}:${process.pid}`;

type Draft = { -readonly [K in keyof DecisionRecord]?: DecisionRecord[K] };

function digest(json: string): string {
  return createHash("sha256").update(json).digest("hex");
}

function partiesToRecord(draft: Draft, parties: VerifiedParties): void {
  draft.userIssuer = parties.user.issuer;
  draft.userSubject = parties.user.subject;
  draft.idp = parties.user.issuer;
  draft.agentId = parties.workload.agentId;
}

function decisionInput(
  parties: VerifiedParties,
  req: { clientId: string; serverId: string; purpose: string },
  rest: Pick<DecisionInput, "action" | "tool" | "resourceUri" | "arguments">,
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

/** Builds the Authorize / FilterTools pipeline: validate → authenticate caller → verify → evaluate → shape → record. */
export function createAuthorizer(deps: AuthorizerDeps): Authorizer {
  const now = deps.now ?? (() => new Date());

  /** Runs one decision: `step` fills the draft record and returns the outcome; failures become DENY. */
  async function decide<T>(
    kind: string,
    step: (draft: Draft) => Promise<{ outcome: Outcome; version?: string; extra?: T }>,
  ): Promise<{ outcome: Outcome; decisionId: string; version: string; at: Date; extra?: T }> {
    const started = process.hrtime.bigint();
    const decisionId = randomUUID();
    const draft: Draft = { kind, decisionId };
    let result: { outcome: Outcome; version?: string; extra?: T };
    try {
      result = await step(draft);
    } catch (err) {
      const e = PdpError.from(err);
      if (e.code === "INTERNAL") deps.logger.error({ err: e.cause, decisionId, kind }, "internal error during decision");
      result = { outcome: errorOutcome(e) };
    }
    const at = now();
    const version = result.version ?? deps.engine().version;
    const { outcome } = result;
    const record: DecisionRecord = {
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
    };
    deps.decisionLog.write(record);
    return { outcome, decisionId, version, at, ...(result.extra !== undefined && { extra: result.extra }) };
  }

  return {
    async authorize(request, authenticate) {
      const r = await decide("authorize", async (draft) => {
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
        if (input.sessionId) throw new PdpError("SESSION_UNKNOWN", "no such session");
        const parties = await verifyIdentities(deps.verifier, input);
        partiesToRecord(draft, parties);
        const decision = deps.engine().evaluate(
          decisionInput(parties, input, {
            action: input.action,
            ...(input.tool !== undefined && { tool: input.tool }),
            ...(input.resourceUri !== undefined && { resourceUri: input.resourceUri }),
            arguments: input.arguments,
          }),
        );
        if (decision.errors.length) deps.logger.warn({ errors: decision.errors }, "policy evaluation errors");
        return { outcome: policyOutcome(decision), version: decision.version };
      });
      return create(AuthorizeResponseSchema, {
        decision: r.outcome.allow ? Decision.ALLOW : Decision.DENY,
        reasonCode: r.outcome.reasonCode,
        reasons: r.outcome.reasons.map((p) => ({ policyId: p.policyId, reason: p.reason })),
        decisionId: r.decisionId,
        policyVersion: r.version,
        evaluatedAt: timestampFromDate(r.at),
        message: r.outcome.message,
      });
    },

    async filterTools(request, authenticate) {
      const r = await decide<string[]>("filter_tools", async (draft) => {
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
        if (m.sessionId) throw new PdpError("SESSION_UNKNOWN", "no such session");
        const parties = await verifyIdentities(deps.verifier, m);
        partiesToRecord(draft, parties);
        const engine = deps.engine();
        const visible = m.tools.filter(
          (tool) => engine.evaluate(decisionInput(parties, m, { action: "call_tool", tool })).decision === "allow",
        );
        const outcome: Outcome = { allow: true, reasonCode: ReasonCode.ALLOWED, reasons: [], message: `${visible.length} of ${m.tools.length} tools visible` };
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
