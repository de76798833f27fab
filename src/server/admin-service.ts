import { timestampFromDate, timestampFromMs } from "@bufbuild/protobuf/wkt";
import { requireOperator } from "../decision/check-caller.js";
import type { DecisionCore } from "../decision/decision-core.js";
import type { RevokeTarget } from "../decision/revoke.js";
import type { AdminService, RevokeRequest } from "../gen/mcppdp/v1/admin_pb.js";
import type { Decoded } from "../grpc/service-definition.js";
import type { PolicyEngine } from "../policy/types.js";
import type { ServiceHandlers } from "./unary.js";

type Methods = typeof AdminService extends { method: infer M } ? M : never;

function revokeTarget(r: Decoded<RevokeRequest>): RevokeTarget {
  if (!r.ok) return { kind: "none" };
  const t = r.message.target;
  switch (t.case) {
    case "sessionId":
      return { kind: "session", sessionId: t.value };
    case "agentId":
      return { kind: "agent", agentId: t.value };
    case "user":
      return { kind: "user", issuer: t.value.issuer, subject: t.value.subject };
    case "clientId":
      return { kind: "client", clientId: t.value };
    case "tokenId":
      return { kind: "jti", tokenId: t.value };
    default:
      return { kind: "none" };
  }
}

/** AdminService over gRPC (operators only): Revoke, GetPolicyStatus. */
export function adminHandlers(core: Pick<DecisionCore, "revoke">, policy: () => PolicyEngine): ServiceHandlers<Methods> {
  return {
    async revoke(request, ctx) {
      const r = await core.revoke(revokeTarget(request), ctx);
      if (r.error) throw r.error;
      return { revokedAt: timestampFromMs(r.value!.at), sessionsEnded: BigInt(r.value!.sessionsEnded) };
    },

    async getPolicyStatus(_request, ctx) {
      requireOperator(ctx.caller);
      const s = policy().status();
      return {
        status: {
          version: s.version,
          loadedAt: timestampFromDate(s.loadedAt),
          policyCount: s.policyCount,
          entityCount: s.entityCount,
          lastError: s.lastError ?? "",
          ...(s.lastErrorAt && { lastErrorAt: timestampFromDate(s.lastErrorAt) }),
          lastErrorSuperseded: s.lastErrorSuperseded ?? false,
          lastErrorSupersededBy: s.lastErrorSupersededBy ?? "",
          ...(s.lastErrorSupersededAt && { lastErrorSupersededAt: timestampFromDate(s.lastErrorSupersededAt) }),
          refusing: s.refusing ?? false,
        },
      };
    },
  };
}
