/**
 * gRPC metadata by which an enforcement point tells the PDP that the workload token it sends is
 * its own stand-in — the MCP request attested no agent (a stock client's OAuth bearer without
 * `act`, no workload token) — so that policy sees `context.agent_attestation == "client"`. The
 * documented value is `client`; the PDP treats any value so, because the key can only lower the
 * attestation it derives from the verified token, never raise it.
 */
export const AGENT_ATTESTATION_METADATA = "mcp-pdp-agent-attestation";
