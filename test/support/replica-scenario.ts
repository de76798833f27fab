/**
 * The two-replica scenario, for any Redis topology: two PDP processes on one store — a session
 * opened on A works on B, EndSession and Revoke on A are enforced by B at its next decision, an
 * agent revoked on A is refused by B. Measures the revocation propagation time.
 */
import assert from "node:assert/strict";
import { createClient } from "../../src/grpc/client.js";
import { AdminService } from "../../src/gen/mcppdp/v1/admin_pb.js";
import { AuthorizationService } from "../../src/gen/mcppdp/v1/authorization_pb.js";
import { Action, Decision, ReasonCode } from "../../src/gen/mcppdp/v1/common_pb.js";
import { SessionService } from "../../src/gen/mcppdp/v1/session_pb.js";
import { Health, HealthCheckResponse_ServingStatus as Serving } from "../../src/gen/grpc/health/v1/health_pb.js";
import { mintDevToken } from "../../src/identity/dev-issuer.js";
import { spawnPdp, type PdpProcess } from "./pdp-process.js";

const SERVER = "https://docs.example.com/mcp";

/** What one run measured. */
export interface ReplicaScenarioResult {
  /** Revoke sent to A → first DENY on B (both round trips), sorted, ms. */
  readonly propagationMs: readonly number[];
  /** Calls on B allowed after Revoke returned on A (must be 0). */
  readonly allowedAfterRevoke: number;
}

/** Waits (bounded) until the PDP at `address` reports its decision service SERVING (its store answers). */
export async function untilServing(address: string, ms = 30_000): Promise<void> {
  const health = createClient(Health, address);
  try {
    const until = Date.now() + ms;
    for (;;) {
      const r = await health.check({ service: "mcppdp.v1.AuthorizationService" }).catch(() => undefined);
      if (r?.status === Serving.SERVING) return;
      if (Date.now() > until) throw new Error(`PDP at ${address} not SERVING within ${ms} ms`);
      await new Promise((res) => setTimeout(res, 100));
    }
  } finally {
    health.close();
  }
}

/** Runs the scenario with two PDPs started with `env`; kills them whatever happens. */
export async function twoReplicaScenario(env: Record<string, string>, runs = 20): Promise<ReplicaScenarioResult> {
  const procs: PdpProcess[] = [];
  try {
    const [a, b] = await Promise.all([spawnPdp({ MCP_PDP_DECISION_LOG: "off", ...env }), spawnPdp({ MCP_PDP_DECISION_LOG: "off", ...env })]);
    procs.push(a!, b!);
    const at = (p: PdpProcess) => `127.0.0.1:${p.port}`;
    await Promise.all([untilServing(at(a!)), untilServing(at(b!))]);
    const sessionsA = createClient(SessionService, at(a!));
    const adminA = createClient(AdminService, at(a!));
    const authzB = createClient(AuthorizationService, at(b!));
    const t = { userToken: await mintDevToken("user", { audience: SERVER }), workloadToken: await mintDevToken("workload") };
    const open = () => sessionsA.openSession({ ...t, clientId: "dev-client", serverId: SERVER, purpose: "research", tools: ["search_documents"] });
    const callB = (sessionId: string) =>
      authzB.authorize({ ...t, sessionId, clientId: "dev-client", serverId: SERVER, action: Action.CALL_TOOL, tool: "search_documents", purpose: "research" });
    const samples: number[] = [];
    let extraCalls = 0;
    try {
      const ended = await open();
      const first = await callB(ended.sessionId);
      assert.equal(first.decision, Decision.ALLOW, `a session opened on A works on B (got ${ReasonCode[first.reasonCode]})`);
      await sessionsA.endSession({ sessionId: ended.sessionId });
      assert.equal((await callB(ended.sessionId)).reasonCode, ReasonCode.SESSION_REVOKED, "EndSession on A is enforced by B");

      for (let i = 0; i < runs; i++) {
        const s = await open();
        assert.equal((await callB(s.sessionId)).decision, Decision.ALLOW);
        const started = process.hrtime.bigint();
        await adminA.revoke({ target: { case: "sessionId", value: s.sessionId } });
        let denied = false;
        for (let tries = 0; tries < 1000 && !denied; tries++) {
          denied = (await callB(s.sessionId)).reasonCode === ReasonCode.SESSION_REVOKED;
          if (!denied) extraCalls++;
        }
        assert.ok(denied, "B never denied the revoked session");
        samples.push(Number(process.hrtime.bigint() - started) / 1e6);
      }
      assert.equal(extraCalls, 0, "the first call on B after Revoke returns is denied");

      const agent = "spiffe://dev.mcp-pdp.local/agent/research-notifier";
      const wt = await mintDevToken("workload", { subject: agent, issuedAt: Math.floor(Date.now() / 1000) - 2 });
      const s = await sessionsA.openSession({ ...t, workloadToken: wt, clientId: "dev-client", serverId: SERVER, purpose: "research", tools: ["search_documents"] });
      const ask = () => authzB.authorize({ ...t, workloadToken: wt, sessionId: s.sessionId, clientId: "dev-client", serverId: SERVER, action: Action.CALL_TOOL, tool: "search_documents", purpose: "research" });
      assert.equal((await ask()).decision, Decision.ALLOW);
      await adminA.revoke({ target: { case: "agentId", value: agent } });
      assert.equal((await ask()).reasonCode, ReasonCode.SESSION_REVOKED, "an agent revoked on A is refused by B");
    } finally {
      sessionsA.close();
      adminA.close();
      authzB.close();
    }
    for (const p of [a!, b!]) {
      p.child.kill("SIGTERM");
      assert.equal(await p.exited, 0);
    }
    return { propagationMs: samples.sort((x, y) => x - y), allowedAfterRevoke: extraCalls };
  } finally {
    for (const p of procs) p.child.kill("SIGKILL");
  }
}

/** `p50 … ms, max … ms` of sorted samples. */
export function summary(sorted: readonly number[]): string {
  const p = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!.toFixed(2);
  return `p50 ${p(0.5)} ms, max ${p(1)} ms`;
}
