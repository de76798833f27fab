import type { Server, ServerWritableStream, UntypedServiceImplementation } from "@grpc/grpc-js";
import { HealthImplementation } from "grpc-health-check";

/**
 * The standard grpc.health.v1 service (`grpc-health-check`: Check, Watch, List), with a status per
 * service name ("" is the whole server).
 */
export interface HealthService {
  /** Sets every service's status at once. */
  setServing(serving: boolean): void;
  /** Sets the status of some services (and of the whole server, ""). */
  setStatus(services: readonly string[], serving: boolean): void;
  /** NOT_SERVING, then ends every Watch stream so a graceful stop is not held open by watchers. */
  shutdown(): void;
  /** Registers `grpc.health.v1.Health` on the server. */
  addToServer(server: Pick<Server, "addService">): void;
}

/** Creates the health service for the given service names, all NOT_SERVING until the app says otherwise. */
export function createHealthService(services: readonly string[]): HealthService {
  const names = ["", ...services];
  const health = new HealthImplementation(Object.fromEntries(names.map((s) => [s, "NOT_SERVING" as const])));
  // The library's Watch streams never end by themselves; keep them so that shutdown can end them.
  const watchers = new Set<ServerWritableStream<unknown, unknown>>();
  const current = new Map(names.map((s) => [s, false]));
  // Watchers hear of changes only (the library would send every set, changed or not).
  const set = (list: readonly string[], serving: boolean) => {
    for (const s of list) {
      if (current.get(s) === undefined || current.get(s) === serving) continue;
      current.set(s, serving);
      health.setStatus(s, serving ? "SERVING" : "NOT_SERVING");
    }
  };
  return {
    setServing: (serving) => set(names, serving),
    setStatus: set,
    shutdown() {
      set(names, false);
      for (const call of watchers) call.end();
      watchers.clear();
    },
    addToServer(server) {
      health.addToServer({
        addService(definition, implementation: UntypedServiceImplementation) {
          const watch = implementation["watch"] as (call: ServerWritableStream<unknown, unknown>) => void;
          server.addService(definition, {
            ...implementation,
            watch(call: ServerWritableStream<unknown, unknown>) {
              watchers.add(call);
              call.on("cancelled", () => watchers.delete(call));
              call.on("close", () => watchers.delete(call));
              watch(call);
            },
          });
        },
      });
    },
  };
}
