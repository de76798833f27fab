/**
 * `context.agent_attestation` through the plain gRPC door: "spiffe" for a JWT-SVID, "act" for an
 * RFC 8693 delegated token, "client" when the enforcement point marks the workload token as its
 * own stand-in (metadata `mcp-pdp-agent-attestation`). The bundled policy refuses "client" an
 * egress tool (`send_message`) that the tool allowlist permits; the mark can only lower the
 * attestation: an act-token marked so is refused too.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { Metadata } from "@grpc/grpc-js";
import { Action, Decision, ReasonCode } from "../../src/gen/mcppdp/v1/common_pb.js";
import { mintDevToken } from "../../src/identity/dev-issuer.js";
import { startTestPdp } from "../support/pdp.js";

const SERVER = "https://docs.example.com/mcp";
const NOTIFIER = "spiffe://dev.mcp-pdp.local/agent/research-notifier";

test("policy sees how the agent was attested: spiffe and act may call an egress tool, client may not", { timeout: 60_000 }, async () => {
  const pdp = await startTestPdp({ sessions: { required: false } });
  try {
    const userToken = await mintDevToken("user", { audience: SERVER });
    const svid = await mintDevToken("workload", { subject: NOTIFIER });
    const delegated = await mintDevToken("workload", { subject: "dev-client", act: { sub: NOTIFIER } });
    const standIn = new Metadata();
    standIn.set("mcp-pdp-agent-attestation", "client");
    const ask = (workloadToken: string, tool: string, metadata?: Metadata) =>
      pdp.authz.authorize(
        { userToken, workloadToken, clientId: "dev-client", serverId: SERVER, action: Action.CALL_TOOL, tool, purpose: "research" },
        metadata ? { metadata } : {},
      );

    assert.equal((await ask(svid, "send_message")).decision, Decision.ALLOW, "a JWT-SVID attests the agent");
    assert.equal((await ask(delegated, "send_message")).decision, Decision.ALLOW, "so does an act claim");
    for (const token of [svid, delegated]) {
      const refused = await ask(token, "send_message", standIn);
      assert.equal(refused.decision, Decision.DENY);
      assert.equal(refused.reasonCode, ReasonCode.POLICY_DENIED);
      assert.deepEqual(refused.reasons.map((r) => r.policyId), ["high-impact-requires-attested-agent"]);
    }
    assert.equal((await ask(svid, "search_documents", standIn)).decision, Decision.ALLOW, "a harmless tool needs no attested agent");
  } finally {
    await pdp.close();
  }
});

test("the AuthZEN door: context.agent_attestation lowers the attestation the same way", { timeout: 60_000 }, async () => {
  const pdp = await startTestPdp({ sessions: { required: false } });
  try {
    const userToken = await mintDevToken("user", { audience: SERVER });
    const workloadToken = await mintDevToken("workload", { subject: NOTIFIER });
    const evaluate = async (tool: string, extra: Record<string, unknown> = {}) => {
      const res = await fetch(`http://127.0.0.1:${pdp.app.httpPort}/access/v1/evaluation`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          subject: { type: "identity", id: "alice", properties: { token: userToken } },
          action: { name: "tools/call" },
          resource: { type: "tool", id: tool },
          context: { agent: "dev-client", server_id: SERVER, purpose: "research", workload_token: workloadToken, ...extra },
        }),
        signal: AbortSignal.timeout(30_000),
      });
      return (await res.json()) as { decision: boolean; context?: { reason_code?: string; reasons?: { policy_id?: string }[] } };
    };
    assert.equal((await evaluate("send_message")).decision, true);
    const refused = await evaluate("send_message", { agent_attestation: "client" });
    assert.equal(refused.decision, false, JSON.stringify(refused));
    assert.match(JSON.stringify(refused.context), /high-impact-requires-attested-agent/);
    assert.equal((await evaluate("search_documents", { agent_attestation: "client" })).decision, true);
  } finally {
    await pdp.close();
  }
});
