/**
 * Arguments checked before policy: a tool call of a tool with a known definition must conform to
 * its `inputSchema`, its resource-naming arguments must be canonical, and its values must fit
 * Cedar — or the call is DENY `INVALID_ARGUMENTS` naming the first violation, never passed on to
 * Cedar. What it returns is what policy reads as `context.args.<tool>`.
 */
import type { KnownTool } from "../policy/tool-definitions.js";
import type { JsonValue, PolicyEngine } from "../policy/types.js";
import type { DecisionRequest } from "./types.js";

/** The typed arguments of a tool call (undefined when the tool has no known definition). Throws PdpError INVALID_ARGUMENTS. */
export function checkArguments(policy: PolicyEngine, request: DecisionRequest): JsonValue | undefined {
  if (request.item?.kind !== "tool") return undefined;
  const known = policy.definition(request.serverId, request.item.name);
  return known?.check(request.arguments?.value ?? {});
}

/** Longest recorded argument string. */
const MAX_RECORDED = 128;

/**
 * The argument values a decision record may keep: only those the tool's declared definition names
 * (`recordedArguments`), and only scalars (strings cut to 128 characters).
 */
export function recordedArguments(known: KnownTool | undefined, args: { readonly [key: string]: JsonValue } | undefined): Record<string, string | number | boolean> | undefined {
  if (!known || !args || known.recordedArguments.length === 0) return undefined;
  const out: Record<string, string | number | boolean> = {};
  for (const name of known.recordedArguments) {
    const v = args[name];
    if (typeof v === "string") out[name] = v.slice(0, MAX_RECORDED);
    else if (typeof v === "number" || typeof v === "boolean") out[name] = v;
  }
  return Object.keys(out).length > 0 ? out : undefined;
}
