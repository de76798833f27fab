import { readFile } from "node:fs/promises";
import { decodeJwt } from "jose";
import { mintDevToken } from "../identity/dev-issuer.js";
import type { GatewayConfig } from "./config.js";

/** Lifetime of a development agent token; a new one is minted a minute before it expires. */
const DEV_TTL_SECONDS = 900;

/**
 * The agent workload token the gateway presents for callers that send none (a stock MCP client
 * sends only its bearer token): the configured token, the file's current content (re-read on
 * every call, so a SPIFFE helper can rotate it), or in development mode a token minted by the
 * development issuer and renewed before it expires.
 */
export function agentTokenSource(config: GatewayConfig, now: () => number = () => Date.now() / 1000): () => Promise<string> {
  const { agent } = config;
  if (agent.workloadToken) {
    const token = agent.workloadToken;
    return async () => token;
  }
  if (agent.workloadTokenFile) {
    const file = agent.workloadTokenFile;
    return async () => (await readFile(file, "utf8")).trim();
  }
  if (config.mode !== "development") return async () => "";
  let minted: { token: string; exp: number } | undefined;
  return async () => {
    if (!minted || minted.exp - 60 < now()) {
      const token = await mintDevToken("workload", { ttlSeconds: DEV_TTL_SECONDS, ...(agent.devAgent && { subject: agent.devAgent }) });
      minted = { token, exp: decodeJwt(token).exp! };
    }
    return minted.token;
  };
}
