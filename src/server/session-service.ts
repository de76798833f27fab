import type { Duration } from "@bufbuild/protobuf/wkt";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import type { DecisionCore } from "../decision/decision-core.js";
import type { OpenSessionQuestion } from "../decision/types.js";
import type { OpenSessionRequest, SessionService } from "../gen/mcppdp/v1/session_pb.js";
import type { Decoded } from "../grpc/service-definition.js";
import { sessionStatus } from "../session/session-status.js";
import { delegation, protoOutcome, protoReason, protoReasons } from "./proto-shapes.js";
import { decodedOrThrow, type ServiceHandlers } from "./unary.js";

type Methods = typeof SessionService extends { method: infer M } ? M : never;

function ttlMs(ttl: Duration | undefined): number {
  return ttl ? Number(ttl.seconds) * 1000 + Math.floor(ttl.nanos / 1e6) : 0;
}

function openSessionQuestion(r: Decoded<OpenSessionRequest>): OpenSessionQuestion {
  const m = r.ok ? r.message : undefined;
  return { ...delegation(r), tools: m?.tools ?? [], resources: m?.resources ?? [], prompts: m?.prompts ?? [], ttlMs: ttlMs(m?.ttl) };
}

/** SessionService over gRPC: OpenSession answers every refusal as a DENY; Get/End answer failures with a status. */
export function sessionHandlers(core: Pick<DecisionCore, "openSession" | "getSession" | "endSession">, now: () => number = Date.now): ServiceHandlers<Methods> {
  return {
    async openSession(request, ctx) {
      const r = await core.openSession(openSessionQuestion(request), ctx);
      const s = r.value?.session;
      const { obligations: _none, ...outcome } = protoOutcome(r.outcome);
      return {
        ...outcome,
        decisionId: r.decisionId,
        policyVersion: r.version,
        refused: (r.value?.refused ?? []).map((x) => ({ item: x.item, reasonCode: protoReason(x.reasonCode), reasons: protoReasons(x.reasons) })),
        ...(s && {
          sessionId: s.id,
          grantedTools: [...s.grantedTools],
          grantedResources: [...s.grantedResources],
          grantedPrompts: [...s.grantedPrompts],
          expiresAt: timestampFromMs(s.expiresAt),
        }),
      };
    },

    async getSession(request, ctx) {
      const s = await core.getSession(decodedOrThrow(request).sessionId, ctx.caller);
      const b = s.binding;
      return {
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
      };
    },

    async endSession(request, ctx) {
      const r = await core.endSession(decodedOrThrow(request).sessionId, ctx);
      if (r.error) throw r.error;
      return { ended: r.value ?? false };
    },
  };
}
