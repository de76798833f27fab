/**
 * The load generator: `lanes` closed-loop clients, each a PEP task that opens a session, calls
 * Authorize until the session's call budget is used (50 allowed calls: the shipped
 * `session-call-budget` policy denies the 51st), then opens the next session. Tokens are minted
 * once per lane (a PEP reuses its task's tokens; the PDP verifies them and caches the result).
 * The same loop drives any {@link Target} (mcp-pdp, or a peer PDP in bench/peer/).
 */
import { Action, Decision, ReasonCode } from "../../src/gen/mcppdp/v1/common_pb.js";
import { AuthorizationService } from "../../src/gen/mcppdp/v1/authorization_pb.js";
import { SessionService } from "../../src/gen/mcppdp/v1/session_pb.js";
import { createClient, type Client } from "../../src/grpc/client.js";
import { mintDevToken } from "../../src/identity/dev-issuer.js";
import type { JsonObject } from "@bufbuild/protobuf";
import { Samples, type LatencySummary } from "./stats.js";

/** The protected server, client and tools every lane uses (shipped policies allow them for research). */
export const SERVER = "https://docs.example.com/mcp";
export const TOOLS = ["search_documents", "read_document"] as const;
/** Allowed calls per session before the next one is opened (the shipped budget allows 50). */
export const CALLS_PER_SESSION = 50;

/** The connections to one PDP address. */
export interface Connections {
  readonly authz: Client<(typeof AuthorizationService)["method"]>[];
  readonly sessions: Client<(typeof SessionService)["method"]>[];
  close(): void;
}

/**
 * `n` separate HTTP/2 connections (a local subchannel pool each; otherwise grpc-js shares one
 * connection, and node cluster balances connections, not calls).
 */
export function connect(address: string, n: number): Connections {
  const opts = { channelOptions: { "grpc.use_local_subchannel_pool": 1 } };
  const authz = Array.from({ length: n }, () => createClient(AuthorizationService, address, opts));
  const sessions = Array.from({ length: n }, () => createClient(SessionService, address, opts));
  return {
    authz,
    sessions,
    close: () => [...authz, ...sessions].forEach((c) => c.close()),
  };
}

/** One lane's credentials. */
export interface LaneTokens {
  readonly userToken: string;
  readonly workloadToken: string;
}

/** Mints tokens for `n` lanes (user `bench-user-<i>`, the research-assistant workload). */
export async function laneTokens(n: number): Promise<LaneTokens[]> {
  return Promise.all(
    Array.from({ length: n }, async (_, i) => ({
      userToken: await mintDevToken("user", { audience: SERVER, subject: `bench-user-${i}`, ttlSeconds: 3600 }),
      workloadToken: await mintDevToken("workload", { ttlSeconds: 3600 }),
    })),
  );
}

/** What one load run measured. */
export interface LoadResult {
  readonly lanes: number;
  readonly seconds: number;
  /** Authorize latency (ms) after the warm-up. */
  readonly authorize: LatencySummary;
  /** OpenSession latency (ms) after the warm-up. */
  readonly openSession: LatencySummary;
  /** Authorize calls completed per second after the warm-up (latencies count calls that also started after it). */
  readonly decisionsPerSecond: number;
  /** Every call made, warm-up included: Authorize and OpenSession (each is one audited decision). */
  readonly totalAuthorize: number;
  readonly totalOpen: number;
  /** Answers other than ALLOW, by reason code, and transport errors. */
  readonly unexpected: Record<string, number>;
}

/** One answer of a target: allowed, or refused with a short reason (reason code or error). */
export interface Answer {
  readonly allow: boolean;
  readonly reason?: string;
}

/**
 * What the lanes drive: a PDP seen as a PEP task sees it. `open` starts a task's session (its
 * handle is opaque to the driver), `call` asks for one tool call in it.
 */
export interface Target {
  open(lane: number): Promise<Answer & { session?: unknown }>;
  call(lane: number, session: unknown, tool: string, args: JsonObject): Promise<Answer>;
}

/** mcp-pdp over gRPC: OpenSession and Authorize with the lane's tokens. */
export function pdpTarget(connections: Connections, tokens: readonly LaneTokens[]): Target {
  const ids = (i: number) => {
    const t = tokens[i % tokens.length]!;
    return { userToken: t.userToken, workloadToken: t.workloadToken, clientId: "dev-client", serverId: SERVER, purpose: "research" };
  };
  return {
    async open(i) {
      const sessions = connections.sessions[i % connections.sessions.length]!;
      const s = await sessions.openSession({ ...ids(i), tools: [...TOOLS], ttl: { seconds: 120n, nanos: 0 } }, { timeoutMs: 10_000 });
      return s.decision === Decision.ALLOW ? { allow: true, session: s.sessionId } : { allow: false, reason: ReasonCode[s.reasonCode] ?? String(s.reasonCode) };
    },
    async call(i, session, tool, args) {
      const authz = connections.authz[i % connections.authz.length]!;
      const r = await authz.authorize({ ...ids(i), sessionId: session as string, action: Action.CALL_TOOL, tool, arguments: args }, { timeoutMs: 10_000 });
      return r.decision === Decision.ALLOW ? { allow: true } : { allow: false, reason: ReasonCode[r.reasonCode] ?? String(r.reasonCode) };
    },
  };
}

/** Where a run adds its latencies besides its own summary (to merge rounds). */
export interface SampleSinks {
  readonly authorize: Samples;
  readonly openSession: Samples;
}

/** Options for {@link drive}. */
export interface DriveOptions {
  /** mcp-pdp connections (with `tokens`), or any other target. */
  readonly connections?: Connections;
  readonly tokens?: readonly LaneTokens[];
  readonly target?: Target;
  readonly lanes: number;
  readonly warmupMs: number;
  readonly durationMs: number;
  /** Called about once a second with the calls so far (progress). */
  readonly onTick?: (calls: number) => void;
  /** Also add every measured latency here. */
  readonly into?: SampleSinks;
}

/** Runs the closed loop and summarises it. */
export async function drive(o: DriveOptions): Promise<LoadResult> {
  const target = o.target ?? pdpTarget(o.connections!, o.tokens!);
  const lat = new Samples();
  const openLat = new Samples();
  const unexpected: Record<string, number> = {};
  const count = (k: string) => void (unexpected[k] = (unexpected[k] ?? 0) + 1);
  const start = performance.now();
  const measureFrom = start + o.warmupMs;
  const end = measureFrom + o.durationMs;
  /** Authorize calls that completed inside the measured window (throughput of the closed loop). */
  let completed = 0;
  let totalAuthorize = 0;
  let totalOpen = 0;
  const tick = setInterval(() => o.onTick?.(totalAuthorize), 1000);

  const lane = async (i: number) => {
    let session: unknown;
    let used = CALLS_PER_SESSION;
    let n = 0;
    while (performance.now() < end) {
      if (used >= CALLS_PER_SESSION) {
        const t0 = performance.now();
        totalOpen++;
        const s = await target.open(i).catch((e: Error) => e);
        if (t0 >= measureFrom) {
          const d = performance.now() - t0;
          openLat.add(d);
          o.into?.openSession.add(d);
        }
        if (s instanceof Error || !s.allow) {
          count(s instanceof Error ? `open:${s.message.slice(0, 40)}` : `open:${s.reason}`);
          await new Promise((r) => setTimeout(r, 100));
          continue;
        }
        session = s.session;
        used = 0;
      }
      const tool = TOOLS[n++ % TOOLS.length]!;
      const t0 = performance.now();
      totalAuthorize++;
      const r = await target.call(i, session, tool, { query: `q${n % 97}`, limit: 10 }).catch((e: Error) => e);
      const t1 = performance.now();
      if (t1 >= measureFrom && t1 <= end) completed++;
      if (t0 >= measureFrom && t1 <= end) {
        lat.add(t1 - t0);
        o.into?.authorize.add(t1 - t0);
      }
      used++;
      if (r instanceof Error) count(`grpc:${r.message.slice(0, 40)}`);
      else if (!r.allow) {
        count(r.reason ?? "DENY");
        used = CALLS_PER_SESSION; // open a fresh session after any refusal
      }
    }
  };
  await Promise.all(Array.from({ length: o.lanes }, (_, i) => lane(i)));
  clearInterval(tick);
  const seconds = o.durationMs / 1000;
  return {
    lanes: o.lanes,
    seconds,
    authorize: lat.summary(),
    openSession: openLat.summary(),
    decisionsPerSecond: completed / seconds,
    totalAuthorize,
    totalOpen,
    unexpected,
  };
}

/** Refuses a lane that does not answer its task with ALLOW (a short run first), naming it. */
export async function requireAllow(target: DriveOptions["target"], name: string): Promise<void> {
  const check = await drive({ target, lanes: 1, warmupMs: 0, durationMs: 300 });
  if (Object.keys(check.unexpected).length || check.totalAuthorize === 0)
    throw new Error(`${name} does not answer the bench's task with ALLOW: ${JSON.stringify(check.unexpected)}`);
}
