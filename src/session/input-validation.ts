import { PdpError } from "../errors.js";
import { isSessionId } from "./session-id.js";
import type { CallFacts, NewSession, RevocationInput, RevocationSubjects, SubjectRef } from "./types.js";

/** Longest accepted identity value, tool name, label or token id (characters). */
export const MAX_VALUE_LENGTH = 1024;
/** Most labels accepted on one call, and most granted items on one session. */
export const MAX_ITEMS = 1024;
/** Longest accepted revocation TTL: 30 days. */
export const MAX_REVOCATION_TTL_MS = 30 * 24 * 3600 * 1000;

function invalid(message: string): PdpError {
  return new PdpError("INVALID_REQUEST", message);
}

function checkValue(name: string, v: unknown, allowEmpty = false): void {
  if (typeof v !== "string" || (!allowEmpty && v.length === 0) || v.length > MAX_VALUE_LENGTH) {
    throw invalid(`${name} must be a ${allowEmpty ? "" : "non-empty "}string of at most ${MAX_VALUE_LENGTH} characters`);
  }
}

function checkList(name: string, v: unknown): void {
  if (!Array.isArray(v) || v.length > MAX_ITEMS) throw invalid(`${name} must be an array of at most ${MAX_ITEMS} strings`);
  for (const item of v) checkValue(`${name}[]`, item);
}

function checkTime(name: string, v: unknown): void {
  if (typeof v !== "number" || !Number.isSafeInteger(v) || v < 0) throw invalid(`${name} must be a non-negative integer (ms since the epoch)`);
}

/** Throws INVALID_REQUEST unless `id` is a well-formed session handle. */
export function validateSessionId(id: unknown): asserts id is string {
  if (!isSessionId(id)) throw invalid("malformed session id");
}

/** Throws INVALID_REQUEST unless `s` is a well-formed new session that expires after `now`. */
export function validateNewSession(s: NewSession, now: number): void {
  if (typeof s !== "object" || s === null) throw invalid("session must be an object");
  validateSessionId(s.id);
  const b = s.binding;
  if (typeof b !== "object" || b === null) throw invalid("binding must be an object");
  for (const k of ["userIssuer", "userSubject", "agentId", "clientId", "serverId", "idp", "purpose"] as const) {
    checkValue(`binding.${k}`, b[k]);
  }
  checkList("grantedTools", s.grantedTools);
  checkList("grantedResources", s.grantedResources);
  checkList("grantedPrompts", s.grantedPrompts);
  checkTime("createdAt", s.createdAt);
  checkTime("expiresAt", s.expiresAt);
  if (s.expiresAt <= now) throw invalid("expiresAt must be in the future");
  if (s.expiresAt <= s.createdAt) throw invalid("expiresAt must be after createdAt");
}

/** Throws INVALID_REQUEST unless `c` is a well-formed call. */
export function validateCall(c: CallFacts, maxCalls: number | undefined): void {
  if (typeof c !== "object" || c === null) throw invalid("call must be an object");
  checkValue("tool", c.tool);
  checkList("labels", c.labels);
  if (c.labels.length > 64) throw invalid("at most 64 labels per call");
  if (typeof c.risk !== "number" || !Number.isFinite(c.risk) || c.risk < 0) throw invalid("risk must be a finite number ≥ 0");
  if (maxCalls !== undefined && (!Number.isSafeInteger(maxCalls) || maxCalls < 0)) throw invalid("maxCalls must be an integer ≥ 0");
}

/** Throws INVALID_REQUEST unless `r` is a well-formed revocation. */
export function validateRevocation(r: RevocationInput): void {
  if (typeof r !== "object" || r === null) throw invalid("revocation must be an object");
  if (!["session", "agent", "user", "client", "jti"].includes(r.kind)) throw invalid("unknown revocation kind");
  if (r.kind === "session") validateSessionId(r.value);
  else checkValue("value", r.value);
  checkTime("at", r.at);
  if (!Number.isSafeInteger(r.ttlMs) || r.ttlMs < 1 || r.ttlMs > MAX_REVOCATION_TTL_MS) {
    throw invalid(`ttlMs must be an integer between 1 and ${MAX_REVOCATION_TTL_MS}`);
  }
}

/** Throws INVALID_REQUEST unless `s` is a well-formed set of decision subjects. */
export function validateSubjects(s: RevocationSubjects): void {
  if (typeof s !== "object" || s === null) throw invalid("subjects must be an object");
  if (s.sessionId !== undefined) validateSessionId(s.sessionId);
  for (const k of ["agentId", "user", "clientId"] as const) if (s[k] !== undefined) checkValue(k, s[k]);
  if (s.tokenIds !== undefined) {
    checkList("tokenIds", s.tokenIds);
    if (s.tokenIds.length > 16) throw invalid("at most 16 token ids");
  }
  if (s.tokensIssuedAt !== undefined && (typeof s.tokensIssuedAt !== "number" || !Number.isFinite(s.tokensIssuedAt))) {
    throw invalid("tokensIssuedAt must be a number (ms since the epoch)");
  }
}

/** Throws INVALID_REQUEST unless `s` names an agent, user or client. */
export function validateSubjectRef(s: SubjectRef): void {
  if (typeof s !== "object" || s === null || !["agent", "user", "client"].includes(s.kind)) {
    throw invalid("subject kind must be agent, user or client");
  }
  checkValue("subject value", s.value);
}
