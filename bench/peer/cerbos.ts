/**
 * The Cerbos peer: installed on demand into a scratch folder (never a project dependency), started
 * on free loopback ports with the translated policies, and a JWKS served locally for the variant
 * that verifies the user JWT.
 *
 * Cerbos ships its Linux binary on npm (`@cerbos/cerbos-linux-x64`); its client is `@cerbos/grpc`.
 * Both are installed with npm into `bench/.peer/` (git-ignored) the first time, then reused.
 */
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import { createServer as createNetServer, type AddressInfo } from "node:net";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { packageRoot } from "../../src/config/load-config.js";
import { DEV_JWKS } from "../../src/identity/dev-issuer.js";

/** The versions the bench installs (pinned, so runs compare like with like). */
export const CERBOS_VERSION = "0.55.0";
export const CERBOS_CLIENT_VERSION = "0.27.0";
const PEER_DIR = process.env.MCP_PDP_BENCH_PEER_DIR ?? path.join(packageRoot, "bench", ".peer");

/** The part of `@cerbos/grpc` the bench uses (it is loaded at run time from the scratch folder). */
export interface CerbosClient {
  checkResources(request: unknown): Promise<{ isAllowed(check: { resource: { kind: string; id: string }; action: string }): boolean | undefined }>;
  close(): void;
}
type GrpcCtor = new (target: string, options: { tls: false; channelOptions?: Record<string, unknown> }) => CerbosClient;

function installed(): boolean {
  try {
    const bin = JSON.parse(readFileSync(path.join(PEER_DIR, "node_modules/@cerbos/cerbos-linux-x64/package.json"), "utf8")) as { version: string };
    const client = JSON.parse(readFileSync(path.join(PEER_DIR, "node_modules/@cerbos/grpc/package.json"), "utf8")) as { version: string };
    return bin.version === CERBOS_VERSION && client.version === CERBOS_CLIENT_VERSION;
  } catch {
    return false;
  }
}

/** Installs Cerbos and its client into the scratch folder unless they are there. Returns the binary path. */
export function ensureCerbos(progress: (msg: string) => void): string {
  if (process.platform !== "linux" || process.arch !== "x64") throw new Error(`the Cerbos peer needs linux-x64 (this is ${process.platform}-${process.arch})`);
  if (!installed()) {
    progress(`installing @cerbos/cerbos-linux-x64@${CERBOS_VERSION} and @cerbos/grpc@${CERBOS_CLIENT_VERSION} into ${path.relative(packageRoot, PEER_DIR)}/`);
    mkdirSync(PEER_DIR, { recursive: true });
    writeFileSync(path.join(PEER_DIR, "package.json"), JSON.stringify({ private: true, description: "scratch: the bench's Cerbos peer (git-ignored)" }));
    execFileSync(
      "npm",
      ["install", "--no-audit", "--no-fund", "--no-package-lock", "--ignore-scripts", `@cerbos/cerbos-linux-x64@${CERBOS_VERSION}`, `@cerbos/grpc@${CERBOS_CLIENT_VERSION}`],
      { cwd: PEER_DIR, stdio: ["ignore", "ignore", "inherit"] },
    );
    if (!installed()) throw new Error("the Cerbos install did not leave the expected packages");
  }
  return path.join(PEER_DIR, "node_modules/@cerbos/cerbos-linux-x64/cerbos-linux-x64");
}

/** Loads `@cerbos/grpc` from the scratch folder. */
export async function cerbosClientClass(): Promise<GrpcCtor> {
  const entry = path.join(PEER_DIR, "node_modules/@cerbos/grpc/lib/index.js");
  const mod = (await import(pathToFileURL(entry).href)) as { GRPC: GrpcCtor };
  return mod.GRPC;
}

/** A free TCP port on 127.0.0.1 (asked of the OS). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createNetServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
  });
}

/** The development issuer's JWKS over HTTP on loopback (what Cerbos fetches to verify user JWTs). */
export async function serveJwks(): Promise<{ url: string; close(): Promise<void> }> {
  const body = JSON.stringify(DEV_JWKS);
  const server: Server = createServer((req, res) => {
    res.writeHead(req.url === "/jwks.json" ? 200 : 404, { "content-type": "application/json" });
    res.end(req.url === "/jwks.json" ? body : "{}");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return { url: `http://127.0.0.1:${port}/jwks.json`, close: () => new Promise((r) => server.close(() => r())) };
}

/** A running Cerbos server. */
export interface CerbosServer {
  readonly child: ChildProcess;
  readonly grpcAddress: string;
  output(): string;
  stop(): Promise<void>;
}

/**
 * Starts Cerbos with the policies in `policyDir`, request logging off (log level warn), audit and
 * telemetry off — its leanest configuration. `jwksUrl`: verify auxData JWTs against that JWKS.
 */
export async function startCerbos(bin: string, policyDir: string, workDir: string, jwksUrl?: string): Promise<CerbosServer> {
  let lastError: Error | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    const [http, grpc] = [await freePort(), await freePort()];
    const config = {
      server: { httpListenAddr: `127.0.0.1:${http}`, grpcListenAddr: `127.0.0.1:${grpc}` },
      engine: { defaultPolicyVersion: "default" },
      storage: { driver: "disk", disk: { directory: policyDir, watchForChanges: false } },
      audit: { enabled: false },
      telemetry: { disabled: true },
      ...(jwksUrl && { auxData: { jwt: { keySets: [{ id: "dev", remote: { url: jwksUrl } }] } } }),
    };
    const file = path.join(workDir, `cerbos-${grpc}.yaml`);
    writeFileSync(file, JSON.stringify(config, null, 1)); // JSON is YAML
    const child = spawn(bin, ["server", `--config=${file}`, "--log-level=warn"], {
      env: { PATH: process.env.PATH ?? "", HOME: workDir, CERBOS_NO_TELEMETRY: "1" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const kill = () => child.kill("SIGKILL");
    process.once("exit", kill);
    let out = "";
    const keep = (d: Buffer) => {
      out += d.toString();
      if (out.length > 200_000) out = out.slice(-100_000);
    };
    child.stdout!.on("data", keep);
    child.stderr!.on("data", keep);
    const exited = new Promise<void>((r) => child.once("exit", () => r()));
    const stop = async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 10_000);
      await exited;
      clearTimeout(t);
      process.removeListener("exit", kill);
    };
    const deadline = Date.now() + 60_000;
    while (Date.now() < deadline && child.exitCode === null) {
      const ok = await fetch(`http://127.0.0.1:${http}/_cerbos/health`)
        .then((r) => r.ok)
        .catch(() => false);
      if (ok) return { child, grpcAddress: `127.0.0.1:${grpc}`, output: () => out, stop };
      await new Promise((r) => setTimeout(r, 100));
    }
    await stop();
    lastError = new Error(`Cerbos did not start:\n${out.slice(-3000)}`);
    if (!/address already in use/.test(out)) break;
  }
  throw lastError!;
}

/** Whether the scratch folder exists (for messages). */
export const peerDir = (): string => (existsSync(PEER_DIR) ? PEER_DIR : `${PEER_DIR} (not yet created)`);
