/**
 * Which entity types the policies of a set may dereference (read attributes or ancestors of),
 * so that the entity builder sends only those entities into WASM. Pure; no cedar-wasm here.
 *
 * Sound for Cedar: an entity's data is read only through `.attr`, `has`, `in`, or tags applied
 * to an expression of that entity's type, and such an expression is `principal`/`resource`
 * (always sent), an entity literal, or an attribute whose schema type is that entity type.
 * So a type is needed when a policy condition names an entity literal of the type, or reads an
 * attribute (by name, anywhere) that the schema types as that entity type. Over-approximates;
 * never under-approximates — and an entity left out only makes policies that read it error,
 * which denies.
 */
import type { PolicyJson, SchemaJson } from "@cedar-policy/cedar-wasm/nodejs";

/** The entity types the policies may dereference besides the request's principal and resource. */
export function entityTypesRead(schema: SchemaJson<string>, policies: Iterable<PolicyJson>): Set<string> {
  // Attribute name → entity types it holds somewhere in the schema (entity shapes, contexts, common types).
  const holders = new Map<string, Set<string>>();
  const walkSchema = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(walkSchema);
    if (typeof node !== "object" || node === null) return;
    const attributes = (node as { attributes?: unknown }).attributes;
    if (typeof attributes === "object" && attributes !== null) {
      for (const [name, t] of Object.entries(attributes as Record<string, { type?: unknown; name?: unknown }>)) {
        if ((t.type === "Entity" || t.type === "EntityOrCommon") && typeof t.name === "string") {
          const set = holders.get(name) ?? new Set<string>();
          set.add(t.name);
          holders.set(name, set);
        }
      }
    }
    Object.values(node).forEach(walkSchema);
  };
  walkSchema(schema);

  const needed = new Set<string>();
  const walkExpr = (node: unknown): void => {
    if (Array.isArray(node)) return node.forEach(walkExpr);
    if (typeof node !== "object" || node === null) return;
    const o = node as Record<string, unknown>;
    const dot = o["."] as { attr?: unknown } | undefined;
    if (dot && typeof dot.attr === "string") holders.get(dot.attr)?.forEach((t) => needed.add(t));
    const ref = o["__entity"] as { type?: unknown } | undefined;
    if (ref && typeof ref.type === "string") needed.add(ref.type);
    Object.values(o).forEach(walkExpr);
  };
  for (const p of policies) walkExpr(p.conditions);
  return needed;
}
