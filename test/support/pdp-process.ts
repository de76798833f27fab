/**
 * Runs the PDP as its own process, the way `mcp-pdp serve` does, for tests that need a real
 * process boundary (start-up failures, signals, crashes under load).
 */
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { packageRoot } from "../../src/config/load-config.js";

/** A PDP child process. */
export interface PdpProcess {
  readonly child: ChildProcess;
  /** The port it listens on. */
  readonly port: number;
  /** Everything it wrote to stderr so far (the operational log). */
  stderr(): string;
  /** Resolves with the exit code (or signal name) when it exits. */
  readonly exited: Promise<number | string>;
}

/**
 * Spawns `src/cli/main.ts serve` under tsx. Deliberately WITHOUT V8 flags on the command line:
 * whatever protects cedar-wasm must be done by the code itself. Resolves once it serves; rejects
 * with its stderr if it exits first.
 */
export function spawnPdp(env: Record<string, string> = {}, args: string[] = []): Promise<PdpProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(packageRoot, "src/cli/main.ts"), "serve", ...args], {
    cwd: packageRoot,
    env: { PATH: process.env.PATH ?? "", MCP_PDP_PORT: "0", ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  process.once("exit", () => child.kill("SIGKILL")); // never leave a PDP behind a failed test
  let err = "";
  const exited = new Promise<number | string>((resolve) => child.on("exit", (code, signal) => resolve(code ?? signal ?? -1)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`PDP did not announce "mcp-pdp serving" within 30 s:\n${err}`));
    }, 30_000);
    void exited.then(() => clearTimeout(timer));
    child.stderr!.on("data", (d: Buffer) => {
      err += d.toString();
      const m = /"port":(\d+)[^\n]*"msg":"mcp-pdp serving[",]/.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve({ child, port: Number(m[1]), stderr: () => err, exited });
      }
    });
    void exited.then((code) => reject(Object.assign(new Error(`PDP exited (${code}) before serving:\n${err}`), { code, stderr: err })));
  });
}
