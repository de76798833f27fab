import { PdpError } from "../errors.js";
import type { NewSession, SessionRecord, SessionState } from "./types.js";

/** Hash fields of a new session, as HSET arguments (field, value, …). */
export function encodeSession(s: NewSession): string[] {
  return [
    "binding", JSON.stringify(s.binding),
    "grantedTools", JSON.stringify(s.grantedTools),
    "grantedResources", JSON.stringify(s.grantedResources),
    "grantedPrompts", JSON.stringify(s.grantedPrompts),
    "createdAt", String(s.createdAt),
    "expiresAt", String(s.expiresAt),
    "state", "active",
    "callCount", "0",
    "riskTotal", "0",
    ...(s.toolPins ? ["toolPins", JSON.stringify(s.toolPins)] : []),
    ...(s.novelty ? ["novelty", JSON.stringify(s.novelty)] : []),
  ];
}

function corrupt(id: string, cause?: unknown): PdpError {
  return new PdpError("STORE_UNAVAILABLE", "corrupt session record", { cause: cause ?? new Error(`session ${id}`) });
}

/**
 * Decodes a session from its hash (HGETALL), tools list and labels set; undefined when the hash is
 * empty. A record that does not decode is a store failure (fail closed), never a half-read session.
 */
export function decodeSession(id: string, hash: Record<string, string>, tools: string[], labels: string[]): SessionRecord | undefined {
  if (Object.keys(hash).length === 0) return undefined;
  try {
    const state = hash.state as SessionState;
    if (state !== "active" && state !== "ended" && state !== "revoked") throw corrupt(id);
    const num = (v: string | undefined) => {
      const n = Number(v);
      if (v === undefined || v === "" || !Number.isFinite(n)) throw corrupt(id);
      return n;
    };
    return {
      id,
      binding: JSON.parse(hash.binding!),
      grantedTools: JSON.parse(hash.grantedTools!),
      grantedResources: JSON.parse(hash.grantedResources!),
      grantedPrompts: JSON.parse(hash.grantedPrompts ?? "[]"),
      createdAt: num(hash.createdAt),
      expiresAt: num(hash.expiresAt),
      ...(hash.toolPins !== undefined && { toolPins: JSON.parse(hash.toolPins) }),
      ...(hash.novelty !== undefined && { novelty: JSON.parse(hash.novelty) }),
      facts: { callCount: num(hash.callCount), tools, labels: [...labels].sort(), riskTotal: num(hash.riskTotal) },
      state,
      ...(hash.endedAt === undefined ? {} : { endedAt: num(hash.endedAt) }),
    };
  } catch (err) {
    throw err instanceof PdpError ? err : corrupt(id, err);
  }
}
