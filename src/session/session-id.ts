import { randomBytes } from "node:crypto";

/** Characters of a session handle: base64url, 22 to 128 of them (22 characters carry ≥ 128 bits). */
const SESSION_ID = /^[A-Za-z0-9_-]{22,128}$/;

/** Mints an unguessable session handle: base64url of 32 random bytes (256 bits), 43 characters. */
export function newSessionId(): string {
  return randomBytes(32).toString("base64url");
}

/** Whether `id` has the shape of a session handle (it says nothing about whether the session exists). */
export function isSessionId(id: unknown): id is string {
  return typeof id === "string" && SESSION_ID.test(id);
}
