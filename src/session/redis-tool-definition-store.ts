import { PdpError } from "../errors.js";
import type { RedisClient } from "../redis/connection.js";
import { redisGuard } from "../redis/deadline.js";
import { RedisKeys } from "./redis-keys.js";
import { pipelineResults } from "../redis/pipeline-results.js";
import type { ReportResult, StoredDefinition, ToolDefinitionStore } from "./tool-definition-types.js";

/** Options for {@link RedisToolDefinitionStore}. */
export interface RedisToolDefinitionStoreOptions {
  /** The shared client; never closed by the store. */
  readonly client: RedisClient;
  /** Same prefix as the other stores. Default `mcp-pdp:`. */
  readonly keyPrefix?: string;
  /** Deadline of each operation. Default 500 ms. */
  readonly deadlineMs?: number;
}

function decode(raw: string | null | undefined): StoredDefinition | undefined {
  if (raw === null || raw === undefined) return undefined;
  try {
    return JSON.parse(raw) as StoredDefinition;
  } catch (err) {
    throw new PdpError("STORE_UNAVAILABLE", "corrupt tool definition record", { cause: err });
  }
}

/**
 * {@link ToolDefinitionStore} in Redis, shared by every replica: one hash per server
 * (`<p>tooldefs:<serverId>`, tool name → JSON). A report replaces the hash in one MULTI (a single
 * key, so legal on a Cluster); a call's lookup is one HGET, sent beside the session load (ioredis
 * auto-pipelining puts both in the same round trip).
 */
export class RedisToolDefinitionStore implements ToolDefinitionStore {
  readonly #client: RedisClient;
  readonly #keys: RedisKeys;
  readonly #deadline: number;

  constructor(options: RedisToolDefinitionStoreOptions) {
    this.#client = options.client;
    this.#keys = new RedisKeys(options.keyPrefix);
    this.#deadline = options.deadlineMs ?? 500;
  }

  report(serverId: string, definitions: readonly StoredDefinition[]): Promise<ReportResult> {
    const key = this.#keys.toolDefinitions(serverId);
    return redisGuard("tool definition report", this.#deadline, async () => {
      const m = this.#client.multi().hgetall(key).del(key);
      const fields = definitions.flatMap((d) => [d.definition.name, JSON.stringify(d)]);
      if (fields.length > 0) m.hset(key, ...fields);
      const [old] = pipelineResults(await m.exec(), fields.length > 0 ? 3 : 2) as [Record<string, string>];
      const before = new Map(Object.entries(old).map(([name, raw]) => [name, decode(raw)?.pin.digest]));
      const names = new Set(definitions.map((d) => d.definition.name));
      return {
        changed: definitions.filter((d) => before.get(d.definition.name) !== d.pin.digest).map((d) => d.definition.name),
        removed: [...before.keys()].filter((n) => !names.has(n)),
      };
    });
  }

  get(serverId: string, name: string): Promise<StoredDefinition | undefined> {
    return redisGuard("tool definition load", this.#deadline, async () => decode(await this.#client.hget(this.#keys.toolDefinitions(serverId), name)));
  }

  getMany(serverId: string, names: readonly string[]): Promise<Map<string, StoredDefinition>> {
    return redisGuard("tool definition load", this.#deadline, async () => {
      const out = new Map<string, StoredDefinition>();
      if (names.length === 0) return out;
      const raws = await this.#client.hmget(this.#keys.toolDefinitions(serverId), ...names);
      names.forEach((n, i) => {
        const d = decode(raws[i]);
        if (d) out.set(n, d);
      });
      return out;
    });
  }

  async close(): Promise<void> {}
}
