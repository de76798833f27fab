/**
 * Arguments checked before policy: a tool call of a tool with a known definition must conform to
 * its `inputSchema`, its resource-naming arguments must be canonical, and its values must fit
 * Cedar — or the call is DENY `INVALID_ARGUMENTS` naming the first violation, never passed on to
 * Cedar. What it returns is what policy reads as `context.args.<tool>`.
 */
import type { JsonValue, PolicyEngine } from "../policy/types.js";
import type { DecisionRequest } from "./types.js";

/** The typed arguments of a tool call (undefined when the tool has no known definition). Throws PdpError INVALID_ARGUMENTS. */
export function checkArguments(policy: PolicyEngine, request: DecisionRequest): JsonValue | undefined {
  if (request.item?.kind !== "tool") return undefined;
  const known = policy.definition(request.serverId, request.item.name);
  return known?.check(request.arguments?.value ?? {});
}
