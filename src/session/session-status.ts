import type { SessionRecord } from "./types.js";

/** What a stored session means now: its state, or `expired` for an active session at or past `expiresAt`. */
export type SessionStatus = "active" | "expired" | "ended" | "revoked";

/**
 * The status of a session at `now` (ms). Ended and revoked win over expired, so an ended session
 * reads as ended (SESSION_REVOKED at the edge) for as long as its tombstone lives.
 */
export function sessionStatus(session: SessionRecord, now: number): SessionStatus {
  if (session.state !== "active") return session.state;
  return now >= session.expiresAt ? "expired" : "active";
}
