/**
 * Redis helpers for tests. The shared server (REDIS_URL, default redis://127.0.0.1:6379) is only ever
 * touched under a per-test key prefix, and cleanup deletes only keys under that prefix (SCAN, never
 * FLUSH*). Tests that need Redis to fail start their own `redis-server` and stop it by its pid.
 */
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import net from "node:net";
import type { Cluster, Redis } from "ioredis";
import { createRedisConnection } from "../../src/redis/connection.js";
import type { RedisClient, RedisConnectionOptions } from "../../src/redis/connection.js";

/** The shared test Redis. */
export const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

/** A key prefix no other test uses: `test:<label>:<random>:`. */
export function uniquePrefix(label: string): string {
  return `test:${label.replace(/[^A-Za-z0-9_-]/g, "_")}:${randomBytes(6).toString("hex")}:`;
}

/** A client on `url` (default the shared test Redis), built like production, that has connected. */
export async function testClient(url: string = REDIS_URL, options: Partial<RedisConnectionOptions> = {}): Promise<Redis> {
  const client = createRedisConnection({ url, lazyConnect: true, ...options }) as Redis;
  await client.connect();
  return client;
}

function globEscape(s: string): string {
  return s.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}

/** Deletes every key under `prefix` (and nothing else), found with SCAN MATCH. Returns how many. */
export async function deleteKeysUnder(client: RedisClient, prefix: string): Promise<number> {
  if (!prefix.startsWith("test:")) throw new Error(`refusing to clean a non-test prefix: ${prefix}`);
  const keys = await keysUnder(client, prefix);
  if (client.isCluster) {
    // Keys in many slots: one UNLINK each (auto-pipelining batches them per node).
    await Promise.all(keys.map((k) => client.unlink(k)));
    return keys.length;
  }
  for (let i = 0; i < keys.length; i += 500) await client.unlink(...keys.slice(i, i + 500));
  return keys.length;
}

/** Every key under `prefix` (SCAN MATCH; on a Cluster, on every master), sorted. */
export async function keysUnder(client: RedisClient, prefix: string): Promise<string[]> {
  const out = new Set<string>();
  const nodes: Redis[] = client.isCluster ? (client as Cluster).nodes("master") : [client as Redis];
  for (const c of nodes) {
    let cursor = "0";
    do {
      const [next, batch] = await c.scan(cursor, "MATCH", `${globEscape(prefix)}*`, "COUNT", 1000);
      cursor = next;
      for (const k of batch) if (k.startsWith(prefix)) out.add(k);
    } while (cursor !== "0");
  }
  return [...out].sort();
}

/** A free TCP port on 127.0.0.1 (free when asked). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as net.AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

function ping(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const sock = net.connect({ host: "127.0.0.1", port });
    let buf = "";
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(500, () => done(false));
    sock.on("error", () => done(false));
    sock.on("connect", () => sock.write("PING\r\n"));
    sock.on("data", (d) => {
      buf += d;
      if (buf.includes("\r\n")) done(buf.startsWith("+PONG"));
    });
  });
}

/**
 * A private `redis-server` (from PATH) on its own port, no persistence. Stopped, paused and resumed
 * only through its own pid — never the shared server.
 */
export class PrivateRedis {
  readonly port: number;
  readonly #args: readonly string[];
  #child: ChildProcess | undefined;

  private constructor(port: number, args: readonly string[]) {
    this.port = port;
    this.#args = args;
  }

  /** Starts one on a free port (or `port`), with extra `redis-server` arguments. */
  static async start(options: { port?: number; args?: readonly string[] } = {}): Promise<PrivateRedis> {
    const r = new PrivateRedis(options.port ?? (await freePort()), options.args ?? []);
    await r.#spawn();
    return r;
  }

  /** `redis://127.0.0.1:<port>`. */
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** The server's pid (undefined when stopped). */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  async #spawn(): Promise<void> {
    const child = spawn("redis-server", ["--port", String(this.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", ...this.#args], {
      stdio: "ignore",
    });
    let failed: Error | undefined;
    child.on("error", (e) => (failed = e));
    this.#child = child;
    for (let i = 0; i < 100; i++) {
      if (failed) throw failed;
      if (child.exitCode !== null) throw new Error(`redis-server exited with ${child.exitCode}`);
      if (await ping(this.port)) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    this.#signal("SIGKILL");
    throw new Error(`redis-server did not answer on port ${this.port}`);
  }

  #signal(sig: NodeJS.Signals): void {
    const pid = this.#child?.pid;
    if (pid === undefined) throw new Error("private redis-server not running");
    process.kill(pid, sig);
  }

  /** Kills the server by its pid (SIGKILL: an abrupt outage) and waits until it has exited. */
  async kill(): Promise<void> {
    const child = this.#child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    this.#signal("SIGKILL");
    await exited;
    this.#child = undefined;
  }

  /** Starts it again on the same port (after `kill`). */
  async restart(): Promise<void> {
    if (this.#child) throw new Error("still running");
    await this.#spawn();
  }

  /** Freezes the server (SIGSTOP): connections stay open, replies stop — a slow Redis. */
  pause(): void {
    this.#signal("SIGSTOP");
  }

  /** Resumes a paused server (SIGCONT). */
  resume(): void {
    this.#signal("SIGCONT");
  }

  /** Stops it for good. */
  async stop(): Promise<void> {
    if (!this.#child) return;
    try {
      this.resume();
    } catch {
      // not paused / already gone
    }
    await this.kill();
  }
}
