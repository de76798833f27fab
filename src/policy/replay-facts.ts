/**
 * Replay facts: the {@link DecisionInput} a decision was evaluated on, kept in its record so that
 * the decision can be evaluated again under another policy version (`mcp-pdp policy replay`,
 * shadow evaluation). The input is copied field by field as it is — so any fact added to the
 * input later (and so to the Cedar context) is recorded and replayed with no change here — except
 * the arguments:
 *
 * - raw `arguments` are never kept: only their names (`argumentNames`, what `context.argument_names`
 *   reads);
 * - typed arguments (`context.args.<tool>`) are kept only for the names the tool's declared
 *   definition lets records keep (`recordedArguments`); any other typed argument is named in
 *   `withheld` and its value is not kept. A record with withheld values is not replayable (it is
 *   reported so, never guessed).
 *
 * Never a token: the input has no field for one.
 */
import type { DecisionInput, JsonValue } from "./types.js";

/** The current format of {@link ReplayFacts}. */
export const REPLAY_FACTS_FORMAT = 1;

/** The input as a record keeps it. */
export type RecordedInput = Omit<DecisionInput, "arguments" | "typedArguments"> & {
  /** The names of the call's arguments (no values). */
  readonly argumentNames?: readonly string[];
  /** The typed arguments whose values records may keep (the definition's `recordedArguments`). */
  readonly typedArguments?: JsonValue;
};

/** What a decision's record keeps so that it can be evaluated again. */
export interface ReplayFacts {
  /** Format of these facts ({@link REPLAY_FACTS_FORMAT}). */
  readonly v: number;
  readonly input: RecordedInput;
  /** Typed arguments policy could read whose values were not kept: the record is not replayable. */
  readonly withheld?: readonly string[];
  /** A human approval for exactly this call was used (obligations replay as met). */
  readonly approvalUsed?: boolean;
}

/**
 * The facts of one evaluation. `recordable`: the argument names whose values records may keep
 * (the tool's `recordedArguments`; none when the tool has no declared definition).
 */
export function replayFactsOf(input: DecisionInput, recordable: readonly string[] = []): ReplayFacts {
  const { arguments: args, typedArguments, ...rest } = input;
  const out: { -readonly [K in keyof RecordedInput]: RecordedInput[K] } = { ...rest };
  if (args !== undefined) out.argumentNames = Object.keys(args);
  let withheld: string[] | undefined;
  if (typedArguments !== undefined) {
    if (typedArguments !== null && typeof typedArguments === "object" && !Array.isArray(typedArguments)) {
      const kept: Record<string, JsonValue> = {};
      for (const [name, value] of Object.entries(typedArguments)) {
        if (recordable.includes(name)) kept[name] = value;
        else (withheld ??= []).push(name);
      }
      out.typedArguments = kept;
    } else {
      withheld = ["(arguments)"];
    }
  }
  return { v: REPLAY_FACTS_FORMAT, input: out, ...(withheld && { withheld }) };
}

/** Why recorded facts cannot be evaluated again, or undefined when they can. */
export function unreplayable(facts: ReplayFacts | undefined): string | undefined {
  if (facts === undefined) return "the record has no replay facts (made before they were recorded, or not evaluated by policy)";
  if (facts.v !== REPLAY_FACTS_FORMAT) return `replay facts format ${String(facts.v)} is not known to this version`;
  if (facts.withheld && facts.withheld.length > 0)
    return `argument values not recorded: ${facts.withheld.join(", ")} (list them in the tool's recordedArguments to make such calls replayable)`;
  return undefined;
}

/**
 * The input to evaluate again. Arguments come back as their names with `null` values: the engine
 * reads only their names from them (the typed values come from `typedArguments`).
 */
export function inputOfFacts(facts: ReplayFacts): DecisionInput {
  const { argumentNames, ...rest } = facts.input;
  return {
    ...rest,
    ...(argumentNames !== undefined && { arguments: Object.fromEntries(argumentNames.map((n) => [n, null])) }),
  } as DecisionInput;
}
