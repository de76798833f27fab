import { PdpError } from "../errors.js";
import type { VerifiedCaller } from "../identity/types.js";
import type { Caller } from "./types.js";

/** The authenticated caller, or the door's reason why it is not (thrown, so the decision records it). */
export function requireCaller(caller: Caller): VerifiedCaller {
  if (caller instanceof PdpError) throw caller;
  return caller;
}

/** The request's server must be the caller's own identity (a PEP cannot ask on another server's behalf). */
export function checkCallerIsServer(caller: VerifiedCaller, serverId: string): void {
  if (caller.via === "development") return;
  if (caller.id !== serverId) throw new PdpError("CALLER_UNAUTHORIZED", "server_id is not the calling enforcement point's own identity");
}

/** Refuses a caller that is not an operator (admin, audit and approval RPCs). */
export function requireOperator(caller: Caller): VerifiedCaller {
  const c = requireCaller(caller);
  if (!c.operator) throw new PdpError("CALLER_UNAUTHORIZED", "this RPC needs an operator identity");
  return c;
}
