/**
 * Counts (and, with tracing, spans) every call the decision core makes to a state store, by
 * wrapping the store object it is handed. The store names and the operations (the stores'
 * methods) are closed sets, so they can label metrics.
 */
import { childSpan, type Tracing } from "./tracing.js";

/** The stores the decision core calls. */
export type StoreName = "state" | "sessions" | "revocations" | "approvals" | "novelty";

/** Told about every store call when it settles. */
export interface StoreCallObserver {
  storeCall(store: StoreName, operation: string, ok: boolean): void;
}

/** Every method of `store` (own and inherited), except the constructor. */
function methodNames(store: object): string[] {
  const names = new Set<string>();
  for (let o: object | null = store; o && o !== Object.prototype; o = Object.getPrototypeOf(o)) {
    for (const name of Object.getOwnPropertyNames(o)) {
      if (name !== "constructor" && typeof (store as Record<string, unknown>)[name] === "function") names.add(name);
    }
  }
  return [...names];
}

/**
 * A store that behaves exactly like `store` (same results, same errors) and reports each call
 * that returns a promise to `observer` and, with `tracing`, runs it in a `store.<name>.<op>` span.
 */
export function instrumentStore<T extends object>(store: T, name: StoreName, observer: StoreCallObserver | undefined, tracing: Tracing | undefined): T {
  const wrapped: Record<string, unknown> = Object.create(store) as Record<string, unknown>;
  for (const op of methodNames(store)) {
    const original = (store as Record<string, (...args: unknown[]) => unknown>)[op]!;
    const call = (args: unknown[]) => {
      const result = original.apply(store, args);
      if (!(result instanceof Promise) || !observer) return result;
      return result.then(
        (v) => {
          observer.storeCall(name, op, true);
          return v;
        },
        (err: unknown) => {
          observer.storeCall(name, op, false);
          throw err;
        },
      );
    };
    wrapped[op] = tracing ? (...args: unknown[]) => childSpan(tracing, `store.${name}.${op}`, () => call(args)) : (...args: unknown[]) => call(args);
  }
  return wrapped as T;
}
