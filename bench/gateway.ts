/**
 * `npm run bench -- --gateway`: `tools/call` through `mcp-pdp gateway` against the same upstream
 * called directly, in one run, interleaved. The upstream is `@modelcontextprotocol/server-everything`
 * in its Streamable HTTP mode (one process, both lanes call its `echo`); the gateway fronts it by
 * URL and decides every call through a development-mode PDP (memory store, the bundled cedar/,
 * whose gateway demo allows `echo`). Both lanes use the official SDK `Client`; the gateway lane
 * sends only a development bearer token. Sequential calls (one in flight); each round runs a block
 * of calls on each lane, the order alternating from round to round.
 *
 * Prints p50/p99 per lane, the gateway's p50 minus the direct one, and CPU per call of the gateway
 * process, the PDP and the upstream (from /proc, measured over each lane's blocks only).
 * The shipped `session-call-budget` policy allows 50 calls per session, so the gateway lane starts
 * a new task (`X-Task-Id`) every 40 calls, as a client running many short tasks would; the
 * OpenSession that costs falls in the gateway lane's figures.
 *
 * Options: --rounds N (default 20), --calls N per lane per round (default 50), --warmup N (100),
 * --profile DIR (the gateway process writes a V8 CPU profile there when it stops; summarise it with
 * bench/profile-summary.ts).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { packageRoot } from "../src/config/load-config.js";
import { mintDevToken } from "../src/identity/dev-issuer.js";
import { pdpConfig, startPdpProcess, type PdpProcess } from "./lib/pdp-server.js";
import { cpuSeconds, processTree } from "./lib/processes.js";
import { ms, Samples } from "./lib/stats.js";

const argv = process.argv.slice(2);
const num = (name: string, dflt: number) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? Number(argv[i + 1]) : dflt;
};
const ROUNDS = num("rounds", 20);
const CALLS = num("calls", 50);
const WARMUP = num("warmup", 100);
const PROFILE = argv.includes("--profile") ? path.resolve(argv[argv.indexOf("--profile") + 1]!) : undefined;
const TASK_CALLS = 40;
const RESOURCE = "http://127.0.0.1:8080/mcp"; // the demo's server in the bundled cedar/ (policies/gateway-demo.cedar)
const EVERYTHING = path.join(path.dirname(createRequire(import.meta.url).resolve("@modelcontextprotocol/server-everything/package.json")), "dist", "index.js");

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as net.AddressInfo;
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

/** Spawns `node args…` and resolves once its output matches `ready`; kills it on `stop()`. */
function start(name: string, args: string[], env: Record<string, string>, ready: RegExp): Promise<{ child: ChildProcess; match: RegExpExecArray; stop: () => Promise<void> }> {
  const child = spawn(process.execPath, args, { cwd: packageRoot, env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", ...env }, stdio: ["ignore", "pipe", "pipe"] });
  const kill = () => child.kill("SIGKILL");
  process.once("exit", kill);
  const exited = new Promise<void>((resolve) => child.on("exit", () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGTERM");
    const t = setTimeout(() => child.kill("SIGKILL"), 10_000);
    await exited;
    clearTimeout(t);
    process.removeListener("exit", kill);
  };
  let out = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${name} did not start within 60 s:\n${out.slice(-2000)}`));
    }, 60_000);
    const onData = (d: Buffer) => {
      if (out.length > 100_000) return;
      out += d.toString();
      const m = ready.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve({ child, match: m, stop });
      }
    };
    child.stdout!.on("data", onData);
    child.stderr!.on("data", onData);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`${name} exited before it was ready:\n${out.slice(-2000)}`));
    });
  });
}

interface LaneStats {
  readonly samples: Samples;
  calls: number;
  cpu: Record<string, number>;
  errors: number;
}

const started: { stop: () => Promise<void> }[] = [];
const clients: Client[] = [];
const temp = mkdtempSync(path.join(os.tmpdir(), "mcp-pdp-bench-gateway-"));
const t0 = performance.now();
try {
  const load = os.loadavg();
  console.log(`gateway bench: ${ROUNDS} rounds × ${CALLS} calls per lane (one in flight), warm-up ${WARMUP}; load average ${load.map((x) => x.toFixed(2)).join(" ")}`);

  const pdp: PdpProcess = await startPdpProcess(pdpConfig({ cedarDir: path.join(packageRoot, "cedar"), store: "memory", redisUrl: "", keyPrefix: "" }), path.join(temp, "pdp.json"));
  started.push({ stop: async () => void (await pdp.stop()) });
  const upPort = await freePort();
  const upstream = await start("server-everything", [EVERYTHING, "streamableHttp"], { PORT: String(upPort) }, /listening on port (\d+)/);
  started.push(upstream);
  const gateway = await start(
    "mcp-pdp gateway",
    [...(PROFILE ? ["--cpu-prof", "--cpu-prof-dir", PROFILE] : []), "--import", "tsx", path.join(packageRoot, "src/cli/main.ts"), "gateway", "--port", "0", "--pdp", `127.0.0.1:${pdp.port}`, "--resource", RESOURCE, "--log-level", "warn", "--upstream-url", `http://127.0.0.1:${upPort}/mcp`],
    {},
    /mcp-pdp gateway: (http:\/\/127\.0\.0\.1:\d+\/mcp)/,
  );
  started.push(gateway);

  const direct = new Client({ name: "bench-direct", version: "1.0.0" });
  clients.push(direct);
  await direct.connect(new StreamableHTTPClientTransport(new URL(`http://127.0.0.1:${upPort}/mcp`)));
  const token = await mintDevToken("user", { audience: RESOURCE, clientId: "bench-client", ttlSeconds: 3600 });
  let task = 0;
  const viaGateway = new Client({ name: "bench-gateway", version: "1.0.0" });
  clients.push(viaGateway);
  await viaGateway.connect(
    new StreamableHTTPClientTransport(new URL(gateway.match[1]!), {
      requestInit: { headers: { authorization: `Bearer ${token}` } },
      fetch: (url, init) => {
        const headers = new Headers(init?.headers);
        headers.set("x-task-id", `bench-task-${task}`);
        return fetch(url, { ...init, headers });
      },
    }),
  );

  const pids = {
    gateway: () => processTree(gateway.child.pid!),
    pdp: () => processTree(pdp.child.pid!),
    upstream: () => processTree(upstream.child.pid!),
  };
  let gatewayCalls = 0;
  const callOnce = async (lane: "direct" | "gateway", i: number): Promise<boolean> => {
    const client = lane === "direct" ? direct : viaGateway;
    if (lane === "gateway" && gatewayCalls++ % TASK_CALLS === 0) task++;
    const r = (await client.callTool({ name: "echo", arguments: { message: `call ${i}` } })) as { isError?: boolean; content?: { text?: string }[] };
    return !r.isError && r.content?.[0]?.text === `Echo: call ${i}`;
  };
  // Warm-up (both lanes, untimed), then check both answer as expected.
  for (let i = 0; i < WARMUP; i++) {
    await callOnce("direct", i);
    await callOnce("gateway", i);
  }
  if (!(await callOnce("direct", 0)) || !(await callOnce("gateway", 0))) throw new Error("a warm-up call did not return the upstream's echo");

  const lanes: Record<"direct" | "gateway", LaneStats> = {
    direct: { samples: new Samples(), calls: 0, cpu: { gateway: 0, pdp: 0, upstream: 0 }, errors: 0 },
    gateway: { samples: new Samples(), calls: 0, cpu: { gateway: 0, pdp: 0, upstream: 0 }, errors: 0 },
  };
  const cpuNow = () => ({ gateway: cpuSeconds(pids.gateway()), pdp: cpuSeconds(pids.pdp()), upstream: cpuSeconds(pids.upstream()) });
  for (let round = 0; round < ROUNDS; round++) {
    const order: ("direct" | "gateway")[] = round % 2 === 0 ? ["direct", "gateway"] : ["gateway", "direct"];
    for (const lane of order) {
      const s = lanes[lane];
      const before = cpuNow();
      for (let i = 0; i < CALLS; i++) {
        const t = performance.now();
        const ok = await callOnce(lane, i);
        s.samples.add(performance.now() - t);
        s.calls++;
        if (!ok) s.errors++;
      }
      const after = cpuNow();
      for (const k of ["gateway", "pdp", "upstream"] as const) s.cpu[k]! += after[k] - before[k];
    }
  }

  const us = (seconds: number, calls: number) => `${((seconds / calls) * 1e6).toFixed(0)} µs`;
  console.log("\n| lane | calls | p50 | p99 | gateway CPU / call | PDP CPU / call | upstream CPU / call | not the expected echo |");
  console.log("|---|---:|---:|---:|---:|---:|---:|---:|");
  for (const lane of ["direct", "gateway"] as const) {
    const s = lanes[lane];
    const sum = s.samples.summary();
    console.log(`| ${lane} | ${s.calls} | ${ms(sum.p50)} | ${ms(sum.p99)} | ${us(s.cpu.gateway!, s.calls)} | ${us(s.cpu.pdp!, s.calls)} | ${us(s.cpu.upstream!, s.calls)} | ${s.errors} |`);
  }
  const d = lanes.direct.samples.summary();
  const g = lanes.gateway.samples.summary();
  const upstreamPerCall = lanes.direct.cpu.upstream! / lanes.direct.calls;
  const gatewayPerCall = lanes.gateway.cpu.gateway! / lanes.gateway.calls;
  console.log(
    `\ngateway p50 − direct p50 = ${ms(g.p50 - d.p50)} (includes the PDP decision: Authorize over gRPC, and an OpenSession every ${TASK_CALLS} calls); ` +
      `gateway process CPU per call = ${((gatewayPerCall / upstreamPerCall) * 100).toFixed(0)} % of the upstream's CPU per direct call`,
  );
  console.log(`load average at the end ${os.loadavg().map((x) => x.toFixed(2)).join(" ")}; ${((performance.now() - t0) / 1000).toFixed(0)} s in total`);
} finally {
  for (const c of clients) await c.close().catch(() => {});
  for (const s of started.reverse()) await s.stop().catch(() => {});
  rmSync(temp, { recursive: true, force: true });
}
