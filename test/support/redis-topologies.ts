/**
 * Real Redis topologies for tests, started from the `redis-server` and `redis-cli` on PATH, on free
 * ports, each in its own temporary directory: a Redis Cluster (masters, optionally with replicas)
 * and a primary/replica pair watched by Sentinel. Nothing is shared with the test Redis; every
 * process is ours, stopped by its pid (`stop()`, and SIGKILL at process exit as a last resort).
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { Redis } from "ioredis";
import type { RedisNodeAddress } from "../../src/redis/connection.js";

const HOST = "127.0.0.1";
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Fails — never skips — when a binary the topology tests need is missing, naming it and the Debian
 * package that provides it (`.ci/run` installs them when missing).
 */
export function requireRedisBinaries(): void {
  for (const [bin, pkg] of [
    ["redis-server", "redis-server"],
    ["redis-cli", "redis-tools (a dependency of redis-server)"],
  ] as const) {
    const r = spawnSync(bin, ["--version"], { encoding: "utf8" });
    if (r.error || r.status !== 0) {
      throw new Error(`${bin} is not on PATH: the Redis Cluster and Sentinel tests need it. Install the Debian package ${pkg}: apt-get install -y redis-server`);
    }
  }
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once("error", () => resolve(false));
    srv.listen(port, HOST, () => srv.close(() => resolve(true)));
  });
}

/**
 * A port that is free, with `port + 10000` free as well (a Cluster node's bus port), below the
 * ephemeral range so that the bus port stays a valid port.
 */
async function freeNodePort(taken: Set<number>): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const p = 20_000 + Math.floor(Math.random() * 12_000);
    if (taken.has(p) || taken.has(p + 10_000)) continue;
    if ((await portFree(p)) && (await portFree(p + 10_000))) {
      taken.add(p);
      taken.add(p + 10_000);
      return p;
    }
  }
  throw new Error("no free port pair for a Redis node");
}

/** One Redis command over a fresh connection; `undefined` when the node does not answer. */
async function ask(port: number, ...args: string[]): Promise<unknown> {
  const c = new Redis({ host: HOST, port, lazyConnect: true, connectTimeout: 500, commandTimeout: 1000, maxRetriesPerRequest: 0, retryStrategy: () => null });
  c.on("error", () => {});
  try {
    await c.connect();
    return await c.call(args[0]!, ...args.slice(1));
  } catch {
    return undefined;
  } finally {
    c.disconnect();
  }
}

/** Waits until `check()` is true (polling), or throws `what` after `ms`. */
export async function waitFor(what: string, check: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(100);
  }
}

/** Every node process still running: killed when the test process exits, whatever happened. */
const live = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of live) child.kill("SIGKILL");
});

/** A redis-server (or sentinel) process of a topology. */
export class RedisNode {
  readonly port: number;
  readonly #child: ChildProcess;
  readonly exited: Promise<void>;

  constructor(port: number, args: readonly string[], cwd: string) {
    this.port = port;
    this.#child = spawn("redis-server", [...args], { cwd, stdio: "ignore" });
    this.#child.on("error", () => {});
    this.exited = new Promise((r) => this.#child.once("exit", () => r()));
    live.add(this.#child);
    this.#child.once("exit", () => live.delete(this.#child));
  }

  get address(): RedisNodeAddress {
    return { host: HOST, port: this.port };
  }

  get running(): boolean {
    return this.#child.exitCode === null && this.#child.signalCode === null;
  }

  /** Waits until it answers PING. */
  async ready(ms = 15_000): Promise<void> {
    await waitFor(`redis on port ${this.port}`, async () => {
      if (!this.running) throw new Error(`redis-server on port ${this.port} exited`);
      return (await ask(this.port, "PING")) === "PONG";
    }, ms);
  }

  /** SIGKILL, by pid: the node is gone at once, as in a crash. */
  async kill(): Promise<void> {
    if (!this.running) return;
    this.#child.kill("SIGKILL");
    await this.exited;
  }
}

function serverArgs(port: number, dir: string, extra: readonly string[] = []): string[] {
  // No diskless-sync delay: a replica re-pointed at a new master after a failover syncs at once.
  return ["--port", String(port), "--bind", HOST, "--dir", dir, "--save", "", "--appendonly", "no", "--repl-diskless-sync-delay", "0", ...extra];
}

/** A local Redis Cluster. */
export interface RedisClusterTopology {
  readonly nodes: readonly RedisNode[];
  /** Startup nodes for the client (every node). */
  readonly addresses: readonly RedisNodeAddress[];
  /** The node that currently serves `key`'s slot as master. */
  masterOf(key: string): Promise<RedisNode>;
  /** Waits until every running node reports `cluster_state:ok`. */
  healthy(ms?: number): Promise<void>;
  stop(): Promise<void>;
}

/**
 * Starts `masters` nodes (at least 3) with `replicasPerMaster` replicas each, `--cluster-enabled yes`,
 * joined with `redis-cli --cluster create … --cluster-yes`. `nodeTimeoutMs` is the cluster's failure
 * detection time (a replica takes over a master that has not answered for that long).
 */
export async function startRedisCluster(options: { masters?: number; replicasPerMaster?: number; nodeTimeoutMs?: number } = {}): Promise<RedisClusterTopology> {
  requireRedisBinaries();
  const masters = options.masters ?? 3;
  const replicas = options.replicasPerMaster ?? 0;
  if (masters < 3) throw new Error("a Redis Cluster needs at least 3 masters");
  const dir = mkdtempSync(path.join(tmpdir(), "mcp-pdp-cluster-"));
  const taken = new Set<number>();
  const nodes: RedisNode[] = [];
  const stop = async () => {
    await Promise.all(nodes.map((n) => n.kill()));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    for (let i = 0; i < masters * (1 + replicas); i++) {
      const port = await freeNodePort(taken);
      nodes.push(
        new RedisNode(
          port,
          serverArgs(port, dir, [
            "--cluster-enabled", "yes",
            "--cluster-config-file", `nodes-${port}.conf`,
            "--cluster-node-timeout", String(options.nodeTimeoutMs ?? 1000),
            "--cluster-replica-validity-factor", "0",
          ]),
          dir,
        ),
      );
    }
    await Promise.all(nodes.map((n) => n.ready()));
    const create = spawnSync(
      "redis-cli",
      ["--cluster", "create", ...nodes.map((n) => `${HOST}:${n.port}`), "--cluster-replicas", String(replicas), "--cluster-yes"],
      { encoding: "utf8", timeout: 60_000 },
    );
    if (create.status !== 0) throw new Error(`redis-cli --cluster create failed (${create.status}):\n${create.stdout}\n${create.stderr}`);
    const topology: RedisClusterTopology = {
      nodes,
      addresses: nodes.map((n) => n.address),
      async masterOf(key) {
        for (const n of nodes) {
          if (!n.running) continue;
          const slot = (await ask(n.port, "CLUSTER", "KEYSLOT", key)) as number | undefined;
          if (slot === undefined) continue;
          const shards = (await ask(n.port, "CLUSTER", "SLOTS")) as Array<[number, number, [string, number, ...unknown[]]]> | undefined;
          const owner = shards?.find(([from, to]) => slot >= from && slot <= to)?.[2]?.[1];
          const node = nodes.find((m) => m.port === Number(owner));
          if (node) return node;
        }
        throw new Error(`no node serves ${key}`);
      },
      async healthy(ms = 30_000) {
        await waitFor("cluster_state:ok on every node, every replica in sync", async () => {
          for (const n of nodes) {
            if (!n.running) continue;
            const info = (await ask(n.port, "CLUSTER", "INFO")) as string | undefined;
            if (!info?.includes("cluster_state:ok")) return false;
            const repl = String(await ask(n.port, "INFO", "replication"));
            if (repl.includes("role:slave") && !repl.includes("master_link_status:up")) return false;
          }
          return true;
        }, ms);
      },
      stop,
    };
    await topology.healthy();
    return topology;
  } catch (err) {
    await stop();
    throw err;
  }
}

/** A primary and its replicas, watched by Sentinel. */
export interface RedisSentinelTopology {
  /** The monitored master's name. */
  readonly name: string;
  readonly primary: RedisNode;
  /** The first replica. */
  readonly replica: RedisNode;
  readonly replicas: readonly RedisNode[];
  readonly sentinel: RedisNode;
  /** Sentinel addresses for the client. */
  readonly sentinels: readonly RedisNodeAddress[];
  /** The port Sentinel currently reports for the master. */
  masterPort(): Promise<number | undefined>;
  /** `INFO replication` of a node ("" when it does not answer). */
  replicationInfo(node: RedisNode): Promise<string>;
  stop(): Promise<void>;
}

/**
 * Starts a primary, `replicas` replicas of it (default 1), and one Sentinel (`redis-server FILE
 * --sentinel`, quorum 1) that fails over after `downAfterMs` without an answer from the primary.
 */
export async function startRedisSentinel(options: { downAfterMs?: number; name?: string; replicas?: number } = {}): Promise<RedisSentinelTopology> {
  requireRedisBinaries();
  const name = options.name ?? "mymaster";
  const dir = mkdtempSync(path.join(tmpdir(), "mcp-pdp-sentinel-"));
  const taken = new Set<number>();
  const nodes: RedisNode[] = [];
  const stop = async () => {
    await Promise.all(nodes.map((n) => n.kill()));
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const pPort = await freeNodePort(taken);
    const sPort = await freeNodePort(taken);
    const primary = new RedisNode(pPort, serverArgs(pPort, dir, ["--dbfilename", `dump-${pPort}.rdb`]), dir);
    nodes.push(primary);
    const replicas: RedisNode[] = [];
    for (let i = 0; i < (options.replicas ?? 1); i++) {
      const rPort = await freeNodePort(taken);
      replicas.push(new RedisNode(rPort, serverArgs(rPort, dir, ["--dbfilename", `dump-${rPort}.rdb`, "--replicaof", HOST, String(pPort)]), dir));
    }
    nodes.push(...replicas);
    await Promise.all(nodes.map((n) => n.ready()));
    for (const r of replicas) await waitFor("the replicas in sync", async () => String(await ask(r.port, "INFO", "replication")).includes("master_link_status:up"));
    const conf = path.join(dir, "sentinel.conf");
    writeFileSync(
      conf,
      [
        `port ${sPort}`,
        `bind ${HOST}`,
        `dir ${dir}`,
        `sentinel monitor ${name} ${HOST} ${pPort} 1`,
        `sentinel down-after-milliseconds ${name} ${options.downAfterMs ?? 1000}`,
        `sentinel failover-timeout ${name} 10000`,
        `sentinel parallel-syncs ${name} 1`,
        "",
      ].join("\n"),
    );
    const sentinel = new RedisNode(sPort, [conf, "--sentinel"], dir);
    nodes.push(sentinel);
    await sentinel.ready();
    await waitFor("Sentinel to know the replicas", async () => {
      const reps = (await ask(sPort, "SENTINEL", "REPLICAS", name)) as unknown[] | undefined;
      return Array.isArray(reps) && reps.length === replicas.length;
    });
    return {
      name,
      primary,
      replica: replicas[0]!,
      replicas,
      sentinel,
      sentinels: [sentinel.address],
      async masterPort() {
        const r = (await ask(sPort, "SENTINEL", "GET-MASTER-ADDR-BY-NAME", name)) as [string, string] | undefined;
        return r ? Number(r[1]) : undefined;
      },
      async replicationInfo(node) {
        return String((await ask(node.port, "INFO", "replication")) ?? "");
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}
