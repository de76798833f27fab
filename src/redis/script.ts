import { createHash } from "node:crypto";
import { PdpError } from "../errors.js";
import type { RedisClient } from "./connection.js";

/**
 * Replica confirmation of a write (`WAIT numreplicas timeout`): the write counts only once this many
 * replicas hold it, so a failover to one of them cannot lose it.
 */
export interface ReplicaConfirmation {
  /** Replicas that must acknowledge the write. 0: none (no WAIT). */
  readonly replicas: number;
  /** How long Redis may wait for them, ms (the store's deadline bounds the operation anyway). */
  readonly timeoutMs: number;
}

/** The confirmation for `confirmReplicas` (undefined for none); WAIT may take up to the deadline. */
export function replicaConfirmation(replicas: number | undefined, deadlineMs: number): ReplicaConfirmation | undefined {
  if (replicas === undefined || replicas === 0) return undefined;
  if (!Number.isInteger(replicas) || replicas < 0) throw new PdpError("CONFIG_INVALID", "confirmReplicas must be an integer ≥ 0");
  return { replicas, timeoutMs: Math.max(1, Math.floor(deadlineMs)) };
}

/** What running a script needs of a client (standalone, Sentinel or Cluster). */
export type ScriptClient = Pick<RedisClient, "evalsha" | "eval" | "pipeline">;

function isNoScript(err: unknown): boolean {
  return String((err as Error)?.message).startsWith("NOSCRIPT");
}

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

  /**
   * Runs the script with `keys` (all in one slot on a Cluster) and `args`. With `confirm` (replicas
   * > 0) the script and a `WAIT` go in one pipeline to the node that owns the keys, and the call
   * fails when fewer replicas acknowledged in time — the script's effect is then on the primary but
   * not known to be durable, and the caller fails closed.
   */
  async run(client: ScriptClient, keys: readonly string[], args: ReadonlyArray<string | number>, confirm?: ReplicaConfirmation): Promise<unknown> {
    if (!confirm || confirm.replicas <= 0) {
      try {
        return await client.evalsha(this.sha, keys.length, ...keys, ...args);
      } catch (err) {
        if (!isNoScript(err)) throw err;
        return await client.eval(this.lua, keys.length, ...keys, ...args);
      }
    }
    const confirmed = async (useSha: boolean) => {
      const p = client.pipeline();
      if (useSha) p.evalsha(this.sha, keys.length, ...keys, ...args);
      else p.eval(this.lua, keys.length, ...keys, ...args);
      p.call("WAIT", confirm.replicas, confirm.timeoutMs);
      const res = await p.exec();
      if (!res || res.length !== 2) throw new Error("pipeline returned no result");
      return res;
    };
    let res = await confirmed(true);
    if (res[0]![0] && isNoScript(res[0]![0])) res = await confirmed(false);
    const [[err, value], [waitErr, acked]] = res as [[Error | null, unknown], [Error | null, unknown]];
    if (err) throw err;
    if (waitErr) throw waitErr;
    if (Number(acked) < confirm.replicas) throw new Error(`write confirmed by ${Number(acked)} of ${confirm.replicas} replicas within ${confirm.timeoutMs} ms`);
    return value;
  }
}

/**
 * A write that rides inside another script (one round trip, one atomic step) — on a Cluster only
 * when its keys share the carrying script's slot. The carrying script checks it with the Lua of an
 * {@link AttachedScript} before it writes anything, and applies it only if its own write happens.
 */
export interface ScriptAttachment {
  /** The keys it reads and writes (they join the carrying script's KEYS). */
  readonly keys: readonly string[];
  /** Its arguments, computed when the carrying script is sent (each attempt: a fresh clock reading). */
  args(): ReadonlyArray<string | number>;
}

/**
 * Lua that defines two local functions a carrying script calls for each attachment, `K` and `A`
 * being its keys and arguments (Lua tables):
 * - `check(K, A, pending)` → nil when it can be applied, else the refusal (a string). `pending` is
 *   one table shared by every check of one script run, for what earlier attachments of the same
 *   run will have changed (e.g. calls counted against a budget).
 * - `apply(K, A)` applies it.
 */
export interface AttachedScript {
  readonly lua: string;
  /** The name of the check function in `lua`. */
  readonly check: string;
  /** The name of the apply function in `lua`. */
  readonly apply: string;
}
