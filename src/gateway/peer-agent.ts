import { readFileSync } from "node:fs";
import type { Socket } from "node:net";
import type { TLSSocket } from "node:tls";
import { SignJWT, importJWK, type JWK } from "jose";
import { PdpError } from "../errors.js";
import { mintDevToken } from "../identity/dev-issuer.js";
import { parseSpiffeId } from "../identity/spiffe.js";
import type { GatewayConfig } from "./config.js";

/** The SPIFFE ID of each connection's verified client certificate (null: none). */
const peers = new WeakMap<Socket, string | null>();

/**
 * The SPIFFE ID of the mTLS peer of a connection: its client certificate verified against the
 * configured CA (`authorized`) and names exactly one URI SAN that is a SPIFFE ID. Undefined for a
 * plain connection, no certificate, a certificate that did not verify, none or several SPIFFE IDs.
 */
export function peerSpiffeId(socket: Socket): string | undefined {
  const known = peers.get(socket);
  if (known !== undefined) return known ?? undefined;
  const tls = socket as TLSSocket;
  let id: string | null = null;
  if (tls.encrypted && tls.authorized) {
    const san = tls.getPeerCertificate().subjectaltname ?? "";
    const uris = san
      .split(/,\s*/)
      .filter((entry) => entry.startsWith("URI:spiffe://"))
      .map((entry) => entry.slice(4));
    const parsed = uris.length === 1 ? parseSpiffeId(uris[0]!) : undefined;
    id = parsed ? parsed.id : null;
  }
  peers.set(socket, id);
  return id ?? undefined;
}

/** Most peer tokens kept (one per SPIFFE ID; cleared when full). */
const MAX_PEER_TOKENS = 1000;

/**
 * The JWT-SVID the gateway presents to the PDP for a verified mTLS peer: `sub` = its SPIFFE ID,
 * signed by `tls.peerAgentSigner` (in development mode without one, by the development issuer),
 * kept until a minute before it expires. Undefined when the listener verifies no client certificates.
 * @throws PdpError `CONFIG_INVALID` for a signer key that is not a private key of its `alg`.
 */
export async function peerAgentTokens(config: GatewayConfig, now: () => number = () => Date.now() / 1000): Promise<((spiffeId: string) => Promise<string>) | undefined> {
  const tls = config.tls;
  if (!tls?.clientCaFile) return undefined;
  const signer = tls.peerAgentSigner;
  if (!signer && config.mode !== "development") throw new PdpError("CONFIG_INVALID", "config: tls.peerAgentSigner is needed with tls.clientCaFile outside development mode");
  let sign: (spiffeId: string) => Promise<string>;
  if (signer) {
    const jwk = JSON.parse(readFileSync(signer.keyFile, "utf8")) as JWK;
    if (!jwk.d) throw new PdpError("CONFIG_INVALID", `config: tls.peerAgentSigner.keyFile holds no private key (a JWK with "d")`);
    // Imported at start: a key that does not import stops the gateway with its reason (not at a peer's first call).
    const key = await importJWK(jwk, signer.alg).catch((err: unknown) => {
      throw new PdpError("CONFIG_INVALID", `config: tls.peerAgentSigner.keyFile does not import as a ${signer.alg} key: ${err instanceof Error ? err.message : String(err)}`);
    });
    const kid = signer.kid ?? jwk.kid;
    sign = async (spiffeId) => {
      const iat = Math.floor(now());
      return new SignJWT({})
        .setProtectedHeader({ alg: signer.alg, typ: "JWT", ...(kid && { kid }) })
        .setIssuer(signer.issuer)
        .setSubject(spiffeId)
        .setAudience(signer.audience)
        .setIssuedAt(iat)
        .setExpirationTime(iat + signer.ttlSeconds)
        .setJti(crypto.randomUUID())
        .sign(key);
    };
  } else sign = (spiffeId) => mintDevToken("workload", { subject: spiffeId, ttlSeconds: 300 });

  const tokens = new Map<string, { token: string; exp: number }>();
  return async (spiffeId) => {
    const kept = tokens.get(spiffeId);
    if (kept && kept.exp - 60 > now()) return kept.token;
    const token = await sign(spiffeId);
    const exp = JSON.parse(Buffer.from(token.split(".")[1]!, "base64url").toString("utf8")).exp as number;
    if (tokens.size >= MAX_PEER_TOKENS) tokens.clear();
    tokens.set(spiffeId, { token, exp });
    return token;
  };
}
