/** Child processes of the bench: the PDP (`mcp-pdp serve`) and the gRPC echo server, and their CPU/RSS. */
import { spawn, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { packageRoot } from "../../src/config/load-config.js";

/** A running child that announced its port. */
export interface Child {
  readonly child: ChildProcess;
  readonly port: number;
  stderr(): string;
  /** SIGTERM, then waits for the exit (SIGKILL after 15 s). Resolves with the exit code or signal. */
  stop(): Promise<number | string>;
}

const NODE_FLAGS = ["--no-turbo-inline-js-wasm-calls", "--import", "tsx"];

/**
 * Spawns `node … script args` and resolves when a stderr line matches `ready` (its first group is
 * the port). Rejects with the stderr if the child exits first or after 60 s.
 */
export function spawnChild(script: string, args: string[], env: Record<string, string>, ready: RegExp, extraFlags: string[] = []): Promise<Child> {
  const child = spawn(process.execPath, [...NODE_FLAGS, ...extraFlags, path.join(packageRoot, script), ...args], {
    cwd: packageRoot,
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  const kill = () => child.kill("SIGKILL");
  process.once("exit", kill);
  let err = "";
  const exited = new Promise<number | string>((resolve) => child.on("exit", (code, signal) => resolve(code ?? signal ?? -1)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${script} did not start within 60 s:\n${err.slice(-3000)}`));
    }, 60_000);
    child.stderr!.on("data", (d: Buffer) => {
      err += d.toString();
      if (err.length > 1_000_000) err = err.slice(-200_000);
      const m = ready.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve({
          child,
          port: Number(m[1]),
          stderr: () => err,
          stop: async () => {
            if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
            const t = setTimeout(() => child.kill("SIGKILL"), 15_000);
            const code = await exited;
            clearTimeout(t);
            process.removeListener("exit", kill);
            return code;
          },
        });
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${script} exited (${code}) before it was ready:\n${err.slice(-3000)}`));
    });
  });
}

/** The pid and every descendant pid (Linux /proc). */
export function processTree(pid: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      const list = children.get(ppid) ?? [];
      list.push(Number(name));
      children.set(ppid, list);
    } catch {
      // gone
    }
  }
  const out: number[] = [];
  const stack = [pid];
  while (stack.length) {
    const p = stack.pop() as number;
    out.push(p);
    stack.push(...(children.get(p) ?? []));
  }
  return out;
}

/**
 * Seconds the threads of these pids have spent so far runnable but waiting for a CPU (the run
 * queue; the second field of /proc/PID/task/TID/schedstat). 0 where the kernel does not keep it.
 */
export function runQueueSeconds(pids: readonly number[]): number {
  let total = 0;
  for (const pid of pids) {
    try {
      for (const tid of readdirSync(`/proc/${pid}/task`)) {
        try {
          total += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[1] ?? 0) / 1e9;
        } catch {
          // thread gone
        }
      }
    } catch {
      // gone
    }
  }
  return total;
}

/** CPU seconds (user + system) used so far by these pids. */
export function cpuSeconds(pids: readonly number[]): number {
  const tick = 100; // CLK_TCK on Linux
  let total = 0;
  for (const pid of pids) {
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
      const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      total += (Number(f[11]) + Number(f[12])) / tick;
    } catch {
      // gone
    }
  }
  return total;
}

/** Resident set size in MiB of each pid. */
export function rssMiB(pids: readonly number[]): number[] {
  return pids.map((pid) => {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
      return m ? Number(m[1]) / 1024 : 0;
    } catch {
      return 0;
    }
  });
}
