import type { Logger } from "pino";
import type { DecisionInput, PolicyDecision, PolicyEngine } from "../policy/types.js";
import { SnapshotSuperseded } from "./run-decision.js";

/** Refuses to go on with a snapshot that can no longer evaluate (the runner decides again under the version in force). */
export function checkLive(policy: PolicyEngine): void {
  if (!policy.live()) throw new SnapshotSuperseded(`policy version ${policy.version} was replaced while deciding`);
}

/** Evaluates under this decision's policy snapshot; evaluation errors go to the request's log (with its decision id). */
export function evaluate(policy: PolicyEngine, input: DecisionInput, logger: Logger): PolicyDecision {
  checkLive(policy);
  const decision = policy.evaluate(input);
  if (decision.errors.length > 0) logger.warn({ errors: decision.errors, policyVersion: decision.version }, "policy evaluation errors");
  return decision;
}
