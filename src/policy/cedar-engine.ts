/**
 * The Cedar policy engine: one loaded version, preparsed once under fixed ids, evaluated per
 * request with the schema. Never throws from `evaluate`: every failure is a deny.
 */
import "./v8-guard.js";
import { preparsePolicySet, preparseSchema, statefulIsAuthorized } from "@cedar-policy/cedar-wasm/nodejs";
import type { AuthorizationAnswer, DetailedError } from "@cedar-policy/cedar-wasm/nodejs";
import { PdpError } from "../errors.js";
import { createHash } from "node:crypto";
import { createEntityBuilder, requestTarget } from "./entity-builder.js";
import type { LoadedPolicySet, PolicyInfo } from "./load-policy-set.js";
import type { DecisionInput, DeterminingPolicy, EngineParts, PolicyDecision, PolicyEngine, PolicyStatus } from "./types.js";
import { planPartitions, type PartitionPlan } from "./policy-partition.js";
import type { CedarRequest } from "./entity-builder.js";
import { sideAnswer, unionSet, type UnionMember } from "./union-policy-set.js";

/** Options for {@link createCedarEngine}. */
export interface CedarEngineOptions {
  /**
   * The id under which the policy set and schema are preparsed. cedar-wasm keeps preparsed sets
   * per thread and never frees them, so one id is reused for every version (a reload re-preparses
   * under the same id). Default `"active"`. Two live engines in one thread need two ids: an
   * engine whose id was taken over by another engine denies (outcome `error`) rather than
   * evaluate someone else's policies.
   */
  readonly slot?: string;
  /**
   * Evaluate each request against only the policies whose scope can match its action and
   * resource (see policy-partition.ts): the same decisions, reasons and errors, at a cost that no
   * longer grows with policies that cannot apply. Default true; false evaluates the whole set.
   */
  readonly partition?: boolean;
  /** Most distinct partitions to preparse (beyond it, partitions are per action). Default 2048. */
  readonly maxPartitions?: number;
}

/** The default preparse id for the policy set and the schema. */
export const DEFAULT_SLOT = "active";

/** The reason text of a forbid that failed to evaluate (its own `@reason` follows in parentheses). */
export const FAILED_FORBID = "this forbid policy failed to evaluate, so the request is denied (fail closed)";

/** Which engine currently owns each preparse slot in this thread. */
const slotOwners = new Map<string, object>();

/** What a request evaluates in one version: a partition or the whole set. */
interface Evaluable {
  /** Preparse id. */
  readonly id: string;
  /** Its Cedar ids (`policy0…`) mapped to the policies. */
  readonly policies: ReadonlyMap<string, PolicyInfo>;
  /** The evaluation key (digest of its policies and of all else evaluation reads). */
  readonly key: string;
  /** Its policies' texts in order (for {@link PolicyEngine.evaluateBeside}); undefined for a set loaded without per-policy texts. */
  readonly members: readonly UnionMember[] | undefined;
}

/** What {@link PolicyEngine.evaluateBeside} of another engine reads of this one. */
interface EngineInternals {
  readonly version: string;
  /** Digest of all that the request sent to Cedar depends on (see {@link baseKey}). */
  readonly base: string;
  evaluable(request: CedarRequest): Evaluable;
}

/** The internals behind each engine's opaque {@link EngineParts}. */
const internalsOf = new WeakMap<EngineParts, EngineInternals>();

/**
 * Preparses a loaded policy set and its schema and returns an engine for it.
 *
 * @throws PdpError `POLICY_INVALID` when cedar-wasm refuses to preparse (any earlier engine on
 *   the same slot then denies: the slot may hold a mix of versions).
 */
export function createCedarEngine(loaded: LoadedPolicySet, options: CedarEngineOptions = {}): PolicyEngine {
  const slot = options.slot ?? DEFAULT_SLOT;
  // From here on the slot may hold a mix of old and new (a preparse that fails half-way leaves
  // the schema replaced and the old set in place): no earlier engine may evaluate it any more.
  slotOwners.delete(slot);
  const schemaAnswer = preparseSchema(slot, loaded.schema);
  if (schemaAnswer.type === "failure") throw preparseError("schema", schemaAnswer.errors);
  const setAnswer = preparsePolicySet(slot, { staticPolicies: loaded.policyText });
  if (setAnswer.type === "failure") throw preparseError("policy set", setAnswer.errors);
  const builder = createEntityBuilder(loaded);
  const { version, policies } = loaded;
  const base = baseKey(loaded);
  const texts = loaded.scopes && new Map(loaded.scopes.policies.map((p) => [p.cedarId, p.text]));
  const whole: Evaluable = {
    id: slot,
    policies,
    key: `${base}:${partitionKey(loaded.policyText, [...policies.values()])}`,
    members: texts && membersOf([...policies.keys()], loaded, texts),
  };
  const partitions = options.partition === false ? undefined : preparsePartitions(slot, loaded, base, texts, options.maxPartitions);
  const owner = {};
  slotOwners.set(slot, owner);
  const evaluable = (request: CedarRequest): Evaluable => partitions?.pick(request.action.id, request.resource) ?? whole;
  const parts: EngineParts = Object.freeze({ version });
  internalsOf.set(parts, { version, base, evaluable });

  const status: PolicyStatus = Object.freeze({
    version,
    loadedAt: loaded.loadedAt,
    policyCount: policies.size,
    entityCount: builder.entityCount,
  });

  /** Evaluates a built request on `what` (a partition or the whole set). */
  const evaluateOn = (request: CedarRequest, what: Evaluable): PolicyDecision =>
    decide(statefulIsAuthorized(cedarCall(request, what.id, slot)), what.policies, version);

  return {
    version,
    parts,
    tool: (serverId, name) => builder.tool(serverId, name),
    definition: (serverId, name) => builder.definition(serverId, name),
    status: () => status,
    live: () => slotOwners.get(slot) === owner,
    evaluationKey(input: DecisionInput): string | undefined {
      if (!partitions) return whole.key;
      try {
        const t = requestTarget(input);
        return (partitions.pick(t.action, t.resource) ?? whole).key;
      } catch {
        return undefined;
      }
    },
    evaluate(input: DecisionInput): PolicyDecision {
      try {
        if (slotOwners.get(slot) !== owner) {
          return failed(version, [`preparse slot "${slot}" was taken over by another engine`]);
        }
        const request = builder.build(input);
        return evaluateOn(request, evaluable(request));
      } catch (err) {
        return failed(version, [PdpError.from(err, "POLICY_ERROR").message]);
      }
    },
    evaluateBeside(other: EngineParts, input: DecisionInput): readonly [PolicyDecision, PolicyDecision] | undefined {
      const that = internalsOf.get(other);
      // The same base: the other version would send Cedar exactly this request, against the same schema.
      if (!that || that.base !== base || slotOwners.get(slot) !== owner) return undefined;
      const both = (d: PolicyDecision): readonly [PolicyDecision, PolicyDecision] => [d, { ...d, version: that.version }];
      try {
        const request = builder.build(input);
        const mine = evaluable(request);
        const theirs = that.evaluable(request);
        if (mine.key === theirs.key) return both(evaluateOn(request, mine));
        if (!mine.members || !theirs.members) return undefined;
        const union = unionSet({ key: mine.key, members: mine.members }, { key: theirs.key, members: theirs.members });
        if (!union) return undefined;
        const answer = statefulIsAuthorized(cedarCall(request, union.id, slot));
        return [decide(sideAnswer(answer, union.views[0]), union.views[0].policies, version), decide(sideAnswer(answer, union.views[1]), union.views[1].policies, that.version)];
      } catch (err) {
        return both(failed(version, [PdpError.from(err, "POLICY_ERROR").message]));
      }
    },
  };
}

function cedarCall(request: CedarRequest, setId: string, schema: string) {
  return {
    principal: request.principal,
    action: request.action,
    resource: request.resource,
    context: request.context,
    entities: request.entities,
    preparsedPolicySetId: setId,
    preparsedSchemaName: schema,
  };
}

/** The texts and infos of policies given by whole-set Cedar id, in that order. */
function membersOf(cedarIds: readonly string[], loaded: LoadedPolicySet, texts: ReadonlyMap<string, string>): UnionMember[] | undefined {
  const out: UnionMember[] = [];
  for (const id of cedarIds) {
    const text = texts.get(id);
    const info = loaded.policies.get(id);
    if (text === undefined || info === undefined) return undefined;
    out.push({ text, info });
  }
  return out;
}

/** Digest of what an evaluation reads besides the policies: every other file of the version, and which entity types are sent. */
function baseKey(loaded: LoadedPolicySet): string {
  const h = createHash("sha256");
  for (const f of loaded.sources) if (!f.path.startsWith("policies/")) h.update(`${f.path}\n${Buffer.byteLength(f.text)}\n${f.text}`);
  h.update(`reads:${[...loaded.readsEntityTypes].sort().join(",")}`);
  return h.digest("hex").slice(0, 32);
}

/** Digest of a set of policies: their text in order and the annotations decisions report. */
function partitionKey(text: string, infos: readonly PolicyInfo[]): string {
  const h = createHash("sha256").update(text);
  for (const p of infos) h.update(`\n${p.id}\u0000${p.reason}\u0000${p.obligation ?? ""}\u0000${p.effect}`);
  return h.digest("hex").slice(0, 32);
}

/**
 * Preparses every partition of the set under `<slot>#<index>` and returns the lookup, or
 * undefined when the set carries no scopes (hand-built sets: the whole set is evaluated).
 */
function preparsePartitions(
  slot: string,
  loaded: LoadedPolicySet,
  base: string,
  texts: ReadonlyMap<string, string> | undefined,
  maxPartitions: number | undefined,
): { pick(action: string, resource: { type: string; id: string }): Evaluable | undefined } | undefined {
  if (!loaded.scopes) return undefined;
  const plan: PartitionPlan = planPartitions(loaded.scopes, loaded.entities, maxPartitions === undefined ? {} : { maxPartitions });
  const preparsed = plan.partitions.map((p): Evaluable => {
    const id = `${slot}#${p.index}`;
    const answer = preparsePolicySet(id, { staticPolicies: p.text });
    if (answer.type === "failure") throw preparseError(`policy partition ${p.index}`, answer.errors);
    const local = new Map<string, PolicyInfo>();
    p.cedarIds.forEach((cedarId, i) => {
      const info = loaded.policies.get(cedarId);
      if (info) local.set(`policy${i}`, info);
    });
    return { id, policies: local, key: `${base}:${partitionKey(p.text, [...local.values()])}`, members: texts && membersOf(p.cedarIds, loaded, texts) };
  });
  return {
    pick: (action, resource) => {
      const p = plan.pick(action, resource);
      return p && preparsed[p.index];
    },
  };
}

/**
 * Turns Cedar's answer into a decision, failing closed:
 * - Cedar failure (bad request, context or entities) → deny / `error`;
 * - a forbid applied → deny / `forbid` (reasons: the forbids that applied);
 * - a forbid failed to evaluate → deny / `error` (reasons: the forbids that failed, with
 *   {@link FAILED_FORBID} before their own `@reason`);
 * - a permit applied → allow / `permit` (reasons: the permits that applied);
 * - otherwise → deny / `no_permit`.
 * Errors in permit policies are reported in `errors` and only mean that permit did not apply.
 */
export function decide(
  answer: AuthorizationAnswer,
  policies: ReadonlyMap<string, PolicyInfo>,
  version: string,
): PolicyDecision {
  if (answer.type === "failure") return failed(version, answer.errors.map((e) => e.message));
  const { reason, errors } = answer.response.diagnostics;
  const errorTexts = errors.map((e) => `${policies.get(e.policyId)?.id ?? e.policyId}: ${e.error.message}`);
  const applied = reason.map((id) => lookup(policies, id));
  const forbids = applied.filter((p) => p.effect === "forbid");
  if (forbids.length > 0) return shape("deny", "forbid", forbids, errorTexts, version);
  const failedForbids = errors.map((e) => lookup(policies, e.policyId)).filter((p) => p.effect === "forbid");
  if (failedForbids.length > 0) {
    // Their @reason describes the case where they apply, which is not known here: say what happened.
    const failedReasons = failedForbids.map((p) => ({ ...p, reason: `${FAILED_FORBID} (${p.reason})` }));
    return shape("deny", "error", failedReasons, errorTexts, version);
  }
  const permits = applied.filter((p) => p.effect === "permit");
  if (permits.length > 0 && answer.response.decision === "allow") return shape("allow", "permit", permits, errorTexts, version);
  if (answer.response.decision === "allow") return failed(version, ["Cedar allowed without a determining permit"]);
  return shape("deny", "no_permit", [], errorTexts, version);
}

function lookup(policies: ReadonlyMap<string, PolicyInfo>, cedarId: string): PolicyInfo {
  // An id outside the map cannot happen for a set we loaded; treat it as a forbid (fail closed).
  return policies.get(cedarId) ?? { cedarId, id: cedarId, reason: "unknown policy", effect: "forbid", file: "", line: 0 };
}

function shape(
  decision: PolicyDecision["decision"],
  outcome: PolicyDecision["outcome"],
  determining: readonly PolicyInfo[],
  errors: readonly string[],
  version: string,
): PolicyDecision {
  const seen = new Set<string>();
  const reasons: DeterminingPolicy[] = [];
  for (const p of determining) {
    if (seen.has(p.id)) continue;
    seen.add(p.id);
    reasons.push({ policyId: p.id, reason: p.reason, ...(outcome === "forbid" && p.obligation && { obligation: p.obligation }) });
  }
  reasons.sort((a, b) => (a.policyId < b.policyId ? -1 : a.policyId > b.policyId ? 1 : 0));
  return { decision, outcome, reasons, errors, version };
}

function failed(version: string, errors: readonly string[]): PolicyDecision {
  return { decision: "deny", outcome: "error", reasons: [], errors, version };
}

function preparseError(what: string, errors: readonly DetailedError[]): PdpError {
  return new PdpError("POLICY_INVALID", `cedar refused to preparse the ${what}: ${errors.map((e) => e.message).join("; ")}`);
}
