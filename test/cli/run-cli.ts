/**
 * Runs the real `bin/mcp-pdp.js` (the compiled CLI in dist/, as a user runs it) in a child
 * process. `scripts/run-tests.mjs` brings dist/ up to date before the tests start.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import net from "node:net";
import path from "node:path";
import { packageRoot } from "../../src/config/load-config.js";

/** The command a user runs. */
export const BIN = path.join(packageRoot, "bin", "mcp-pdp.js");

/** What one CLI run did. */
export interface CliRun {
  /** Exit status (null when it was killed by a signal). */
  readonly code: number | null;
  readonly out: string;
  readonly err: string;
}

/** Options for {@link cli}. */
export interface CliOptions {
  /** Environment on top of PATH and HOME (nothing else of the test's environment leaks in). */
  readonly env?: Record<string, string>;
  /** Kill the child after this long (default 120 s: these tests run on busy machines). */
  readonly timeoutMs?: number;
  readonly cwd?: string;
}

/** The child's environment: PATH and HOME only, plus `env`. */
export function cliEnv(env: Record<string, string> = {}): Record<string, string> {
  return { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env };
}

/** Fails loudly when dist/ is missing (`scripts/run-tests.mjs` builds it before the tests). */
export function assertBuilt(): void {
  if (!existsSync(path.join(packageRoot, "dist", "cli", "main.js")))
    throw new Error("dist/ is not built: run the tests with `node scripts/run-tests.mjs` (it builds first) or `npm run build`");
}

/** Runs `mcp-pdp ...args`; resolves when it exits (killing it after `timeoutMs`). */
export function cli(args: readonly string[], options: CliOptions = {}): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: options.cwd ?? packageRoot,
      env: cliEnv(options.env),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), options.timeoutMs ?? 120_000);
    child.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, out, err });
    });
  });
}

/** A long-running CLI child (e.g. `serve`, `audit tail --follow`) whose output accumulates. */
export interface CliChild {
  readonly child: ChildProcess;
  out(): string;
  err(): string;
  /** Resolves once `pattern` matches stdout+stderr (rejects after `timeoutMs` or on exit). */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  /** Resolves with the exit code once it exits. */
  readonly exited: Promise<number | null>;
  /** Kills it (SIGKILL if SIGTERM does not end it within 10 s) and waits for the exit. */
  stop(): Promise<void>;
}

/** Starts `mcp-pdp ...args` and returns at once. Always `stop()` it in a `finally`. */
export function startCli(args: readonly string[], options: CliOptions = {}): CliChild {
  const child = spawn(process.execPath, [BIN, ...args], {
    cwd: options.cwd ?? packageRoot,
    env: cliEnv(options.env),
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  const waiters = new Set<() => void>();
  const poke = () => waiters.forEach((w) => w());
  child.stdout!.on("data", (d: Buffer) => ((out += d.toString()), poke()));
  child.stderr!.on("data", (d: Buffer) => ((err += d.toString()), poke()));
  const exited = new Promise<number | null>((resolve) => child.on("close", (code) => (resolve(code), poke())));
  let done = false;
  void exited.then(() => (done = true));
  return {
    child,
    out: () => out,
    err: () => err,
    exited,
    waitFor(pattern, timeoutMs = 60_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = (out + err).match(pattern);
          if (m) return finish(() => resolve(m));
          if (done) return finish(() => reject(new Error(`exited before ${pattern}:\nstdout: ${out}\nstderr: ${err}`)));
        };
        const timer = setTimeout(() => finish(() => reject(new Error(`no ${pattern} within ${timeoutMs} ms:\nstdout: ${out}\nstderr: ${err}`))), timeoutMs);
        const finish = (f: () => void) => {
          clearTimeout(timer);
          waiters.delete(check);
          f();
        };
        waiters.add(check);
        check();
      });
    },
    async stop() {
      if (done) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** A port nothing listens on right now (the OS's choice). */
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
