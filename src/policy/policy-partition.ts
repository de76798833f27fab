/**
 * Splits a policy set into partitions so that a decision evaluates only the policies that can
 * apply to it. Pure; no cedar-wasm here (the engine preparses what this plans).
 *
 * Evaluation costs ~1.5–2 µs per policy in the set, whether or not the policy applies. A policy
 * applies only when its scope matches the request, and Cedar evaluates the scope before the
 * conditions, without error (`==` and `in` on entities never fail). So a policy whose action or
 * resource constraint cannot match the request's action and resource contributes nothing to the
 * answer — no reason, no error — and leaving it out gives exactly the same decision, reasons
 * and errors. This module decides, per (action, resource), which policies' scopes can match:
 *
 * - the action: `All`; `==` the action; `in` the action or one of its action groups (from the
 *   schema: `memberOf`, transitively);
 * - the resource, whose ancestors are known statically (`cedar/entities`, the same closure the
 *   entity builder sends): `All`; `==` it; `in` it or an ancestor; `is` its type (and `in` …).
 *
 * The principal is not used: agents are verified per request, and an unknown agent is still
 * sent. Partitions are planned for every static entity (and every entity a scope names) of each
 * resource type an action applies to, plus one per (action, resource type) for resources that are
 * neither (only `All` / `is` scopes can match those). Identical partitions are shared. Anything
 * the plan does not cover evaluates the whole set.
 */
import type { ActionConstraint, EntityJson, EntityUidJson, ResourceConstraint, SchemaJson } from "@cedar-policy/cedar-wasm/nodejs";

/** One policy's own text and scope, as the loader found it. */
export interface ScopedPolicy {
  /** Cedar's id in the whole set (`policy0…N`). */
  readonly cedarId: string;
  /** The policy's own Cedar text (annotations included). */
  readonly text: string;
  readonly action: ActionConstraint;
  readonly resource: ResourceConstraint;
}

/** What the schema says about one action of the root namespace (entity type `Action`). */
export interface SchemaAction {
  /** Action groups it belongs to, transitively (ids of `Action` entities). */
  readonly ancestors: readonly string[];
  /** The resource entity types it applies to. */
  readonly resourceTypes: readonly string[];
}

/** The inputs of partitioning, collected by the loader. */
export interface PolicyScopes {
  /** Every policy, in Cedar id order. */
  readonly policies: readonly ScopedPolicy[];
  /** The root namespace's actions, by id. */
  readonly actions: ReadonlyMap<string, SchemaAction>;
}

/** A subset of the policies, to be preparsed on its own. */
export interface PolicyPartition {
  /** Its index in {@link PartitionPlan.partitions} (the engine preparses it under `<slot>#<index>`). */
  readonly index: number;
  /** The whole-set Cedar ids of its policies, in whole-set order. */
  readonly cedarIds: readonly string[];
  /** Its policies' texts joined: Cedar numbers them `policy0…` in this order (i.e. `cedarIds[i]`). */
  readonly text: string;
}

/** Which partition each (action, resource) evaluates. */
export interface PartitionPlan {
  readonly partitions: readonly PolicyPartition[];
  /** The partition for a request, or undefined to evaluate the whole set. */
  pick(action: string, resource: { readonly type: string; readonly id: string }): PolicyPartition | undefined;
}

/** Options for {@link planPartitions}. */
export interface PlanOptions {
  /**
   * Most distinct partitions (each is preparsed and kept for the life of the thread). Over it,
   * the plan partitions by action only. Default 2048.
   */
  readonly maxPartitions?: number;
}

const ACTION_TYPE = "Action";

/** The root namespace's actions from a schema in JSON form (with resolved types). */
export function schemaActions(schema: SchemaJson<string>): Map<string, SchemaAction> {
  const raw = (schema[""]?.actions ?? {}) as Record<string, { memberOf?: { id: string; type?: string }[]; appliesTo?: { resourceTypes?: string[] } }>;
  const parents = (id: string): string[] =>
    (raw[id]?.memberOf ?? []).filter((m) => m.type === undefined || m.type === ACTION_TYPE).map((m) => m.id);
  const out = new Map<string, SchemaAction>();
  for (const id of Object.keys(raw)) {
    const seen = new Set<string>();
    const stack = parents(id);
    while (stack.length > 0) {
      const p = stack.pop() as string;
      if (seen.has(p)) continue;
      seen.add(p);
      stack.push(...parents(p));
    }
    out.set(id, { ancestors: [...seen], resourceTypes: [...(raw[id]?.appliesTo?.resourceTypes ?? [])] });
  }
  return out;
}

/**
 * Plans the partitions of a set: `scopes` from the loader, `entities` the static entities (for
 * each resource's ancestors). Over `maxPartitions` distinct subsets, falls back to one partition
 * per action.
 */
export function planPartitions(scopes: PolicyScopes, entities: readonly EntityJson[], options: PlanOptions = {}): PartitionPlan {
  const max = options.maxPartitions ?? 2048;
  const ancestors = ancestorIndex(entities);
  const partitions: PolicyPartition[] = [];
  const bySignature = new Map<string, PolicyPartition>();
  const intern = (members: readonly ScopedPolicy[]): PolicyPartition => {
    const signature = members.map((p) => p.cedarId).join(",");
    let found = bySignature.get(signature);
    if (!found) {
      found = { index: partitions.length, cedarIds: members.map((p) => p.cedarId), text: members.map((p) => p.text).join("\n") };
      partitions.push(found);
      bySignature.set(signature, found);
    }
    return found;
  };

  const byKey = new Map<string, PolicyPartition>();
  for (const [action, info] of scopes.actions) {
    const forAction = scopes.policies.filter((p) => actionMatches(p.action, action, info.ancestors));
    for (const type of info.resourceTypes) {
      byKey.set(key(action, type), intern(forAction.filter((p) => resourceMatches(p.resource, type, undefined, NONE))));
      const ids = new Set<string>();
      for (const k of ancestors.keys()) if (k.startsWith(`${type}\u0000`)) ids.add(k.slice(type.length + 1));
      for (const p of forAction) {
        const named = namedEntity(p.resource);
        if (named?.type === type) ids.add(named.id);
      }
      for (const id of ids) {
        const ups = ancestors.get(key(type, id)) ?? NONE;
        byKey.set(key(action, type, id), intern(forAction.filter((p) => resourceMatches(p.resource, type, id, ups))));
      }
    }
    if (partitions.length > max) return byActionOnly(scopes);
  }
  return {
    partitions,
    pick: (action, resource) => byKey.get(key(action, resource.type, resource.id)) ?? byKey.get(key(action, resource.type)),
  };
}

/** The fallback plan: one partition per action (every resource). */
function byActionOnly(scopes: PolicyScopes): PartitionPlan {
  const partitions: PolicyPartition[] = [];
  const byAction = new Map<string, PolicyPartition>();
  for (const [action, info] of scopes.actions) {
    const members = scopes.policies.filter((p) => actionMatches(p.action, action, info.ancestors));
    const partition = { index: partitions.length, cedarIds: members.map((p) => p.cedarId), text: members.map((p) => p.text).join("\n") };
    partitions.push(partition);
    byAction.set(action, partition);
  }
  return { partitions, pick: (action) => byAction.get(action) };
}

const NONE: ReadonlySet<string> = new Set();

function key(...parts: string[]): string {
  return parts.join("\u0000");
}

function uid(u: EntityUidJson): { type: string; id: string } {
  return "__entity" in u ? u.__entity : u;
}

function actionMatches(c: ActionConstraint, action: string, groups: readonly string[]): boolean {
  const hits = (u: EntityUidJson): boolean => {
    const { type, id } = uid(u);
    return type === ACTION_TYPE && (id === action || groups.includes(id));
  };
  switch (c.op) {
    case "All":
      return true;
    case "==":
      // A template slot cannot be in a static set; match it conservatively.
      return "entity" in c ? uid(c.entity).type === ACTION_TYPE && uid(c.entity).id === action : true;
    case "in":
      return "entity" in c ? hits(c.entity) : c.entities.some(hits);
    default:
      return true;
  }
}

/** Whether a resource scope can match a resource of `type` (and `id`, when known) with these ancestors. */
function resourceMatches(c: ResourceConstraint, type: string, id: string | undefined, ups: ReadonlySet<string>): boolean {
  const isOrIn = (u: EntityUidJson): boolean => {
    const e = uid(u);
    return (e.type === type && e.id === id) || ups.has(key(e.type, e.id));
  };
  switch (c.op) {
    case "All":
      return true;
    case "==":
      return "entity" in c ? uid(c.entity).type === type && uid(c.entity).id === id : true;
    case "in":
      return "entity" in c ? isOrIn(c.entity) : true;
    case "is":
      if (c.entity_type !== type) return false;
      return c.in === undefined || !("entity" in c.in) || isOrIn(c.in.entity);
    default:
      return true;
  }
}

/** The entity a resource scope names with `==` or `in`, if any (a resource with that id gets its own partition). */
function namedEntity(c: ResourceConstraint): { type: string; id: string } | undefined {
  if ((c.op === "==" || c.op === "in") && "entity" in c) return uid(c.entity);
  return undefined;
}

/** Every static entity's ancestors (transitively), keyed by `type\0id`. */
function ancestorIndex(entities: readonly EntityJson[]): Map<string, ReadonlySet<string>> {
  const parents = new Map<string, string[]>();
  for (const e of entities) {
    const u = uid(e.uid);
    parents.set(key(u.type, u.id), e.parents.map((p) => key(uid(p).type, uid(p).id)));
  }
  const out = new Map<string, ReadonlySet<string>>();
  for (const start of parents.keys()) {
    const seen = new Set<string>();
    const stack = [...(parents.get(start) ?? [])];
    while (stack.length > 0) {
      const k = stack.pop() as string;
      if (seen.has(k) || k === start) continue;
      seen.add(k);
      stack.push(...(parents.get(k) ?? []));
    }
    out.set(start, seen);
  }
  return out;
}
