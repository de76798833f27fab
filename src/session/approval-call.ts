import { createHash, randomBytes } from "node:crypto";
import { mintHandle } from "./session-id.js";
import type { ApprovalCall, ApprovalRecord, ApprovalState } from "./approval-types.js";

/** The key of a call: approvals match only the same session, tool, resource and arguments. */
export function approvalCallKey(call: ApprovalCall): string {
  return createHash("sha256")
    .update(JSON.stringify([call.sessionId, call.serverId, call.tool, call.resourceUri, call.argumentsDigest]))
    .digest("base64url");
}

/** A new approval id (128 random bits, base64url, never starting with `-`: it is typed on command lines). */
export function newApprovalId(): string {
  return mintHandle(16);
}

/** The state an approval has at `now`: pending/approved past their expiry read as `expired`. */
export function approvalState(a: ApprovalRecord, now: number): ApprovalState {
  if ((a.state === "pending" || a.state === "approved") && now >= a.expiresAt) return "expired";
  return a.state;
}
