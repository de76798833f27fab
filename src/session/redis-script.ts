import { createHash } from "node:crypto";
import type { RedisClient } from "./redis-connection.js";

/** A Lua script run by EVALSHA, falling back to EVAL once when the server does not know it (NOSCRIPT). */
export class RedisScript {
  /** The Lua source. */
  readonly lua: string;
  /** SHA-1 of the source. */
  readonly sha: string;

  constructor(lua: string) {
    this.lua = lua;
    this.sha = createHash("sha1").update(lua).digest("hex");
  }

  /** Runs the script with `keys` (all in one slot on a Cluster) and `args`. */
  async run(client: RedisClient, keys: readonly string[], args: ReadonlyArray<string | number>): Promise<unknown> {
    try {
      return await client.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (err) {
      if (!String((err as Error)?.message).startsWith("NOSCRIPT")) throw err;
      return await client.eval(this.lua, keys.length, ...keys, ...args);
    }
  }
}
