/**
 * Child spans around the outside systems the decision core calls — token verification, Cedar
 * evaluation, the audit — made by wrapping the objects the core is handed. Used only with tracing
 * on; the core itself knows nothing of tracing.
 */
import type { AuditLog } from "../audit/types.js";
import type { TokenVerifier } from "../identity/types.js";
import type { PolicyEngine } from "../policy/types.js";
import { childSpan, type Tracing } from "./tracing.js";

/** The verifier, with a `verify.user` / `verify.workload` / `verify.caller` span per verification. */
export function tracedVerifier(verifier: TokenVerifier, tracing: Tracing): TokenVerifier {
  return {
    ...verifier,
    verifyUser: (token, serverUri, options) => childSpan(tracing, "verify.user", () => verifier.verifyUser(token, serverUri, options)),
    verifyWorkload: (token, serverUri, options) => childSpan(tracing, "verify.workload", () => verifier.verifyWorkload(token, serverUri, options)),
    verifyCaller: (token) => childSpan(tracing, "verify.caller", () => verifier.verifyCaller(token)),
  };
}

/**
 * The policy snapshot function, with a `cedar.evaluate` span per evaluation (attributes: the
 * policy version and the Cedar action). One wrapper per engine, kept while the engine lives.
 */
export function tracedPolicy(current: () => PolicyEngine, tracing: Tracing): () => PolicyEngine {
  const wrappers = new WeakMap<PolicyEngine, PolicyEngine>();
  const wrap = (engine: PolicyEngine): PolicyEngine => ({
    version: engine.version,
    evaluate: (input) => childSpan(tracing, "cedar.evaluate", () => engine.evaluate(input), { "mcppdp.policy_version": engine.version, "mcppdp.cedar_action": input.action }),
    evaluationKey: (input) => engine.evaluationKey?.(input),
    ...(engine.parts && { parts: engine.parts }),
    evaluateBeside: (other, input) =>
      childSpan(tracing, "cedar.evaluate", () => engine.evaluateBeside?.(other, input), {
        "mcppdp.policy_version": engine.version,
        "mcppdp.cedar_action": input.action,
        "mcppdp.beside_version": other.version,
      }),
    live: () => engine.live(),
    tool: (serverId, name) => engine.tool(serverId, name),
    definition: (serverId, name) => engine.definition(serverId, name),
    status: () => engine.status(),
  });
  return () => {
    const engine = current();
    let wrapped = wrappers.get(engine);
    if (!wrapped) wrappers.set(engine, (wrapped = wrap(engine)));
    return wrapped;
  };
}

/** The audit as the core uses it, with an `audit.append` / `audit.append_durable` span per record. */
export function tracedAudit(audit: Pick<AuditLog, "append" | "appendDurable">, tracing: Tracing): Pick<AuditLog, "append" | "appendDurable"> {
  return {
    append: (record) => childSpan(tracing, "audit.append", () => audit.append(record)),
    appendDurable: (record, attached) => childSpan(tracing, "audit.append_durable", () => audit.appendDurable(record, attached)),
  };
}
