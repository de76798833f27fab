import { createHash } from "node:crypto";
import type { Sighting } from "./novelty-types.js";

/**
 * The stored name of a relation: its kind and a 128-bit digest of its values, so that a relation
 * costs the store the same few bytes whatever the length of its ids (server URIs, user refs).
 */
export function noveltyMember(s: Sighting): string {
  return `${s.kind}:${createHash("sha256").update(JSON.stringify(s.key)).digest("base64url").slice(0, 22)}`;
}
