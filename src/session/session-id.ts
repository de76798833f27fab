import { randomBytes } from "node:crypto";

/** Characters of a session handle: base64url, 22 to 128 of them (22 characters carry ≥ 128 bits). */
const SESSION_ID = /^[A-Za-z0-9_-]{22,128}$/;

/**
 * Mints an unguessable session handle: base64url of 32 random bytes (256 bits), 43 characters,
 * never starting with `-` (a command line would read it as an option).
 */
export function newSessionId(): string {
  return mintHandle(32);
}

/** base64url of `bytes` random bytes, drawn again while it starts with `-` (1 in 64 draws). */
export function mintHandle(bytes: number): string {
  for (;;) {
    const id = randomBytes(bytes).toString("base64url");
    if (!id.startsWith("-")) return id;
  }
}

/** Whether `id` has the shape of a session handle (it says nothing about whether the session exists). */
export function isSessionId(id: unknown): id is string {
  return typeof id === "string" && SESSION_ID.test(id);
}
