import type { ReportResult, StoredDefinition, ToolDefinitionStore } from "./tool-definition-types.js";

/** {@link ToolDefinitionStore} in this process (one PDP; lost on restart until servers report again). */
export class MemoryToolDefinitionStore implements ToolDefinitionStore {
  readonly #servers = new Map<string, ReadonlyMap<string, StoredDefinition>>();

  async report(serverId: string, definitions: readonly StoredDefinition[]): Promise<ReportResult> {
    const before = this.#servers.get(serverId) ?? new Map<string, StoredDefinition>();
    const next = new Map(definitions.map((d) => [d.definition.name, d] as const));
    this.#servers.set(serverId, next);
    return {
      changed: [...next].filter(([name, d]) => before.get(name)?.pin.digest !== d.pin.digest).map(([name]) => name),
      removed: [...before.keys()].filter((name) => !next.has(name)),
    };
  }

  async get(serverId: string, name: string): Promise<StoredDefinition | undefined> {
    return this.#servers.get(serverId)?.get(name);
  }

  async getMany(serverId: string, names: readonly string[]): Promise<Map<string, StoredDefinition>> {
    const server = this.#servers.get(serverId);
    const out = new Map<string, StoredDefinition>();
    for (const n of names) {
      const d = server?.get(n);
      if (d) out.set(n, d);
    }
    return out;
  }

  async close(): Promise<void> {
    this.#servers.clear();
  }
}
