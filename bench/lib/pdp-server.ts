/**
 * Starts an mcp-pdp server for the bench: from this tree's sources (under tsx, as bench/authorize.ts
 * does) or from a built tree (`bin/mcp-pdp.js serve`, e.g. another commit in a temporary worktree).
 * Only the public surface is used — the CLI, a JSON config file, the "… serving" log line with
 * its port — so it works across versions whose internals differ.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { packageRoot } from "../../src/config/load-config.js";

/** How the bench configures a PDP. */
export interface PdpSetup {
  readonly cedarDir: string;
  readonly store: "memory" | "redis";
  readonly redisUrl: string;
  readonly keyPrefix: string;
  readonly workers?: number;
}

/** The bench's PDP config (the same as bench/authorize.ts: development mode, decision log to /dev/null, audit on). */
export function pdpConfig(s: PdpSetup): Record<string, unknown> {
  return {
    mode: "development",
    host: "127.0.0.1",
    port: 0,
    cedarDir: s.cedarDir,
    logLevel: "info",
    decisionLog: "/dev/null",
    workers: s.workers ?? 1,
    store: s.store === "redis" ? { backend: "redis", redis: { url: s.redisUrl, keyPrefix: s.keyPrefix } } : { backend: "memory" },
    audit: s.store === "redis" ? { redisRetentionMs: 30_000 } : {},
  };
}

/** Merges `patch` over `base` (objects recursively; `null` deletes a key). */
export function mergeConfig(base: Record<string, unknown>, patch: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else if (v && typeof v === "object" && !Array.isArray(v) && out[k] && typeof out[k] === "object" && !Array.isArray(out[k]))
      out[k] = mergeConfig(out[k] as Record<string, unknown>, v as Record<string, unknown>);
    else out[k] = v;
  }
  return out;
}

/** A running PDP. */
export interface PdpProcess {
  readonly child: ChildProcess;
  readonly port: number;
  /** The HTTP (AuthZEN) port, when the PDP announced one. */
  readonly httpPort?: number;
  output(): string;
  /** SIGTERM, then SIGKILL after 15 s; resolves with the exit code or signal. */
  stop(): Promise<number | string>;
}

/** Finds the listening port(s) in the server's JSON log lines (a `msg` saying it serves/listens, and a numeric `port`; mcp-pdp adds `httpPort`). */
function servingPort(text: string): { port: number; httpPort?: number } | undefined {
  for (const line of text.split("\n")) {
    if (!/serving|listening/i.test(line)) continue;
    try {
      const o = JSON.parse(line) as { msg?: unknown; message?: unknown; port?: unknown; httpPort?: unknown };
      const msg = String(o.msg ?? o.message ?? "");
      if (/serving|listening/i.test(msg) && typeof o.port === "number" && o.port > 0)
        return { port: o.port, ...(typeof o.httpPort === "number" && { httpPort: o.httpPort }) };
    } catch {
      // not JSON
    }
  }
  return undefined;
}

/**
 * Starts `mcp-pdp serve --config <file>` with `config` written to `configFile`. `root`: a built
 * tree (runs `node <root>/bin/mcp-pdp.js`), or undefined for this tree's sources under tsx.
 */
export function startPdpProcess(config: Record<string, unknown>, configFile: string, root?: string, nodeFlags: string[] = []): Promise<PdpProcess> {
  writeFileSync(configFile, JSON.stringify(config, null, 1));
  const args = root
    ? [...nodeFlags, path.join(root, "bin", "mcp-pdp.js"), "serve", "--config", configFile]
    : ["--no-turbo-inline-js-wasm-calls", "--import", "tsx", ...nodeFlags, path.join(packageRoot, "src/cli/main.ts"), "serve", "--config", configFile];
  const child = spawn(process.execPath, args, {
    cwd: root ?? packageRoot,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const kill = () => child.kill("SIGKILL");
  process.once("exit", kill);
  let out = "";
  let found: { port: number; httpPort?: number } | undefined;
  const exited = new Promise<number | string>((resolve) => child.on("exit", (code, signal) => resolve(code ?? signal ?? -1)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`mcp-pdp (${root ?? "this tree"}) did not start within 90 s:\n${out.slice(-3000)}`));
    }, 90_000);
    const onData = (d: Buffer) => {
      if (found === undefined) {
        out += d.toString();
        found = servingPort(out);
        if (found !== undefined) {
          clearTimeout(timer);
          resolve({
            child,
            ...found,
            output: () => out,
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
      } else if (out.length < 200_000) out += d.toString(); // keep the start of the log, drop the rest
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`mcp-pdp (${root ?? "this tree"}) exited (${code}) before it was serving:\n${out.slice(-3000)}`));
    });
  });
}
