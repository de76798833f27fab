/**
 * The gateway's direct call path alone, between two loopback servers: an upstream the test
 * writes, and a server that relays every request it gets as one allowed `tools/call` (id 7) with
 * `relayToolCallDirect`, as the gateway does for a client session.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { relayToolCallDirect } from "../../../src/gateway/direct-call.js";
import type { PepDecision } from "../../../src/pep/pep-decision.js";

export const ALLOW: PepDecision = { allowed: true, decision: "ALLOW", reasonCode: "ALLOWED", reasons: [], message: "ok", decisionId: "d-1", policyVersion: "v" };

async function listen(server: http.Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}/mcp`;
}

/** Starts both servers; `gatewayUrl` is where the client posts, `close` stops both. */
export async function directCallPair(
  upstreamHandler: http.RequestListener,
  params: Record<string, unknown>,
): Promise<{ gatewayUrl: string; close: () => Promise<void> }> {
  const upstream = http.createServer(upstreamHandler);
  const upstreamUrl = await listen(upstream);
  const gateway = http.createServer((req, res) => {
    req.resume();
    void relayToolCallDirect({ url: new URL(upstreamUrl), headers: {} }, { jsonrpc: "2.0", id: 7, method: "tools/call", params }, ALLOW, res, "session-1", () => {}, new Map(), () => {});
  });
  const gatewayUrl = await listen(gateway);
  return {
    gatewayUrl,
    close: async () => {
      upstream.closeAllConnections();
      gateway.closeAllConnections();
      await Promise.all([new Promise((r) => upstream.close(r)), new Promise((r) => gateway.close(r))]);
    },
  };
}
