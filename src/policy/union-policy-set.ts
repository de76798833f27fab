/**
 * Two policy sets in one Cedar call. Most of a cedar-wasm evaluation is converting the request
 * (context, entities) into wasm and checking it against the schema; the policies are the smaller
 * part. When two versions that send the same request (same schema, entities, definitions) must
 * both answer it — shadow evaluation, replay with a control — the conversion can be paid once:
 *
 * the union of the two policy lists (a policy in both, same text and annotations, once) is
 * preparsed with every policy turned into a `permit` of the same scope and conditions. Cedar then
 * reports every policy that is satisfied (no forbid exists, so every satisfied permit is a reason)
 * and every policy that errored; each set's own answer follows from those with Cedar's rules — a
 * satisfied forbid denies, else a satisfied permit allows, else nothing permits — and goes through
 * the same `decide` as a call of its own (an erroring forbid still denies, fail closed).
 */
import "./v8-guard.js";
import { policyToJson, preparsePolicySet } from "@cedar-policy/cedar-wasm/nodejs";
import type { AuthorizationAnswer } from "@cedar-policy/cedar-wasm/nodejs";
import type { PolicyInfo } from "./load-policy-set.js";

/** One policy of a side: its own Cedar text (annotations included) and what decisions report of it. */
export interface UnionMember {
  readonly text: string;
  readonly info: PolicyInfo;
}

/** The policies one version evaluates for a request (its partition), and their digest. */
export interface UnionSide {
  /** Digest of everything the evaluation reads (the engine's evaluation key). */
  readonly key: string;
  /** In the order the version's own preparsed set has them. */
  readonly members: readonly UnionMember[];
}

/** One side's view of the union: union Cedar ids (`policy<n>`) to its policies, and their place in its own list. */
export interface UnionView {
  readonly policies: ReadonlyMap<string, PolicyInfo>;
  readonly order: ReadonlyMap<string, number>;
}

/** A preparsed union of two sides. */
export interface UnionSet {
  /** Its preparse id. */
  readonly id: string;
  readonly views: readonly [UnionView, UnionView];
}

/**
 * Most unions kept preparsed (least recently used go first). cedar-wasm never frees a preparsed
 * set, so the ids are a fixed pool of this size, reused as unions are replaced.
 */
export const MAX_UNIONS = 512;

const unions = new Map<string, UnionSet | null>();
const freeIds: string[] = [];
let nextId = 0;

/** Permit texts of forbid texts (checked), bounded: cleared when full. */
const permitTexts = new Map<string, string | null>();
const MAX_PERMIT_TEXTS = 20_000;

/**
 * The preparsed union of `a` and `b`, made on first use and cached by their keys; undefined when
 * it cannot be made (a policy whose effect could not be rewritten exactly): evaluate each then.
 */
export function unionSet(a: UnionSide, b: UnionSide): UnionSet | undefined {
  const key = `${a.key}|${b.key}`;
  const hit = unions.get(key);
  if (hit !== undefined) {
    unions.delete(key);
    unions.set(key, hit);
    return hit ?? undefined;
  }
  const made = makeUnion(a, b);
  if (unions.size >= MAX_UNIONS) {
    const [oldest, set] = unions.entries().next().value as [string, UnionSet | null];
    unions.delete(oldest);
    if (set) freeIds.push(set.id);
  }
  if (!made) {
    unions.set(key, null);
    return undefined;
  }
  const id = freeIds.pop() ?? `union#${nextId++}`;
  if (preparsePolicySet(id, { staticPolicies: made.text }).type === "failure") {
    freeIds.push(id);
    unions.set(key, null);
    return undefined;
  }
  const set: UnionSet = { id, views: made.views };
  unions.set(key, set);
  return set;
}

function memberKey(m: UnionMember): string {
  const i = m.info;
  return `${m.text}\u0000${i.id}\u0000${i.reason}\u0000${i.obligation ?? ""}\u0000${i.effect}`;
}

function makeUnion(a: UnionSide, b: UnionSide): { text: string; views: [UnionView, UnionView] } | undefined {
  const texts: string[] = [];
  const index = new Map<string, string>();
  const view = (side: UnionSide): UnionView | undefined => {
    const policies = new Map<string, PolicyInfo>();
    const order = new Map<string, number>();
    for (const [i, m] of side.members.entries()) {
      const k = memberKey(m);
      let id = index.get(k);
      if (id === undefined) {
        const text = m.info.effect === "forbid" ? asPermit(m.text) : m.text;
        if (text === undefined) return undefined;
        id = `policy${texts.length}`;
        texts.push(text);
        index.set(k, id);
      }
      policies.set(id, m.info);
      order.set(id, i);
    }
    return { policies, order };
  };
  const va = view(a);
  const vb = va && view(b);
  return vb && { text: texts.join("\n"), views: [va!, vb] };
}

/**
 * A forbid's text with its effect keyword turned into `permit` — scope, conditions and
 * annotations untouched — or undefined when that cannot be done exactly (checked: Cedar must read
 * the result as the same policy with effect `permit`).
 */
export function asPermit(text: string): string | undefined {
  const known = permitTexts.get(text);
  if (known !== undefined) return known ?? undefined;
  if (permitTexts.size >= MAX_PERMIT_TEXTS) permitTexts.clear();
  const at = effectAt(text);
  let out: string | undefined;
  if (at !== undefined && text.startsWith("forbid", at)) {
    const candidate = `${text.slice(0, at)}permit${text.slice(at + 6)}`;
    const before = policyToJson(text);
    const after = policyToJson(candidate);
    if (before.type === "success" && after.type === "success" && before.json.effect === "forbid" && after.json.effect === "permit") {
      if (JSON.stringify({ ...before.json, effect: "permit" }) === JSON.stringify(after.json)) out = candidate;
    }
  }
  permitTexts.set(text, out ?? null);
  return out;
}

/** Where a policy's effect keyword starts: after whitespace, `//` comments and annotations `@name` or `@name("…")`. */
function effectAt(text: string): number | undefined {
  let i = 0;
  const n = text.length;
  const skipSpace = () => {
    for (;;) {
      while (i < n && /\s/.test(text[i]!)) i++;
      if (text.startsWith("//", i)) {
        const nl = text.indexOf("\n", i);
        i = nl < 0 ? n : nl + 1;
      } else return;
    }
  };
  for (;;) {
    skipSpace();
    if (text[i] !== "@") return i < n ? i : undefined;
    i++;
    while (i < n && /[A-Za-z0-9_]/.test(text[i]!)) i++;
    skipSpace();
    if (text[i] !== "(") continue;
    i++;
    skipSpace();
    if (text[i] !== '"') return undefined;
    i++;
    while (i < n && text[i] !== '"') i += text[i] === "\\" ? 2 : 1;
    if (i >= n) return undefined;
    i++;
    skipSpace();
    if (text[i] !== ")") return undefined;
    i++;
  }
}

/**
 * One side's answer from the union's: the satisfied and erroring policies that are its own, and
 * the decision Cedar would have made over them alone (a satisfied forbid denies and is the reason;
 * else satisfied permits allow; else deny with no reason). Errors in its own policy order.
 */
export function sideAnswer(answer: AuthorizationAnswer, view: UnionView): AuthorizationAnswer {
  if (answer.type === "failure") return answer;
  const { reason, errors } = answer.response.diagnostics;
  const forbids: string[] = [];
  const permits: string[] = [];
  for (const id of reason) {
    const p = view.policies.get(id);
    if (p) (p.effect === "forbid" ? forbids : permits).push(id);
  }
  const own = errors.filter((e) => view.policies.has(e.policyId));
  own.sort((x, y) => view.order.get(x.policyId)! - view.order.get(y.policyId)!);
  const decision = forbids.length === 0 && permits.length > 0 ? "allow" : "deny";
  return {
    type: "success",
    response: { decision, diagnostics: { reason: forbids.length > 0 ? forbids : permits, errors: own } },
    warnings: answer.warnings,
  };
}
