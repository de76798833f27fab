import { PdpError } from "../errors.js";

/** Key prefix used when none is configured (every store, the audit stream, the policy archive). */
export const DEFAULT_KEY_PREFIX = "mcp-pdp:";

/**
 * Checks a key prefix: at most 128 characters, no whitespace, and no braces — a brace would make
 * the prefix the Cluster hash tag of every key and pin them all to one slot. Returns it.
 */
export function checkKeyPrefix(prefix: string, what: string): string {
  if (typeof prefix !== "string" || prefix.length > 128 || /[{}\s]/.test(prefix)) {
    throw new PdpError("CONFIG_INVALID", `${what}: at most 128 characters, no braces or whitespace`);
  }
  return prefix;
}
