/**
 * Two policy versions that answer the same inputs — the live set and the shadow set, or a replay
 * candidate and a record's own version — evaluated together: each evaluation under the first also
 * evaluates the second in the same Cedar call where the engines can ({@link PolicyEngine.evaluateBeside}:
 * the request is converted into Cedar once), and the second's answer is kept for when the second
 * is asked about the same input. An input the first was not asked about (or that the engines could
 * not share) is evaluated by the second on its own, as always.
 */
import type { DecisionInput, PolicyDecision, PolicyEngine } from "../policy/types.js";

/** Answers of the second version kept (most recent first); a pipeline asks about one input and its approved variant. */
const KEPT = 4;

/** Same fields with the same values (by identity): such inputs are the same Cedar request. */
function sameInput(a: DecisionInput, b: DecisionInput): boolean {
  if (a === b) return true;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) if ((a as unknown as Record<string, unknown>)[k] !== (b as unknown as Record<string, unknown>)[k]) return false;
  return true;
}

/**
 * The two engines, each answering exactly as on its own: evaluate under the first one before the
 * second is asked about the same input. When the first cannot evaluate beside the second, both
 * are returned as they are.
 */
export function evaluatedTogether(first: PolicyEngine, second: PolicyEngine): readonly [PolicyEngine, PolicyEngine] {
  const parts = second.parts;
  if (!first.evaluateBeside || !parts) return [first, second];
  const kept: { input: DecisionInput; decision: PolicyDecision }[] = [];
  const a: PolicyEngine = {
    ...first,
    evaluate(input) {
      const both = first.evaluateBeside!(parts, input);
      if (!both) return first.evaluate(input);
      kept.unshift({ input, decision: both[1] });
      if (kept.length > KEPT) kept.pop();
      return both[0];
    },
  };
  const b: PolicyEngine = {
    ...second,
    evaluate(input) {
      for (const k of kept) if (sameInput(k.input, input)) return k.decision;
      return second.evaluate(input);
    },
  };
  return [a, b];
}
