/** Human approvals of high-impact calls: single-use, bound to the exact call, short-lived. */

/** Stored state; a pending or approved approval past `expiresAt` reads as `expired`. */
export type ApprovalState = "pending" | "approved" | "rejected" | "used" | "expired";

/** The exact call an approval is for. */
export interface ApprovalCall {
  readonly sessionId: string;
  readonly agentId: string;
  readonly userIssuer: string;
  readonly userSubject: string;
  readonly clientId: string;
  readonly serverId: string;
  readonly tool: string;
  readonly resourceUri: string;
  /** SHA-256 of the call's arguments (canonical JSON): changed arguments are another call. */
  readonly argumentsDigest: string;
  readonly purpose: string;
}

/** A stored approval. */
export interface ApprovalRecord extends ApprovalCall {
  readonly id: string;
  readonly state: ApprovalState;
  /** The policy version under which it was requested. */
  readonly policyVersion: string;
  readonly requestedAt: number;
  readonly expiresAt: number;
  /** `<issuer>#<subject>` of the approver who decided. */
  readonly decidedBy?: string;
  readonly decidedAt?: number;
  readonly comment?: string;
  readonly usedAt?: number;
}

/** What {@link ApprovalStore.request} found or made. */
export interface ApprovalRequest {
  /** The live approval for the call: the one already there, or a new pending one. */
  readonly approval: ApprovalRecord;
  /** When a new one was made: the call's previous approval (e.g. one that expired unused). */
  readonly previous?: ApprovalRecord;
}

/** Filters for {@link ApprovalStore.list}. */
export interface ApprovalFilter {
  readonly state?: ApprovalState;
  readonly tool?: string;
  readonly userSubject?: string;
  readonly sessionId?: string;
}

/** Approvals, shared by every replica. Deadline-bounded; STORE_UNAVAILABLE on store failure. */
export interface ApprovalStore {
  /**
   * The live (pending or approved, unexpired) approval for exactly this call, or a new pending one
   * expiring at `expiresAt`. At most one live approval exists per call.
   */
  request(call: ApprovalCall, meta: { policyVersion: string; expiresAt: number }): Promise<ApprovalRequest>;
  get(id: string): Promise<ApprovalRecord | undefined>;
  /** Newest first, at most `limit`. */
  list(filter: ApprovalFilter, limit: number): Promise<ApprovalRecord[]>;
  /**
   * Approves or rejects a pending, unexpired approval — atomically, once. Returns the updated
   * record, or undefined when there is no such approval; throws INVALID_REQUEST when it is no
   * longer pending.
   */
  decide(id: string, verdict: "approved" | "rejected", decidedBy: string, comment: string): Promise<ApprovalRecord | undefined>;
  /** Atomically turns the approved, unexpired approval for exactly this call into `used`; null when there is none. */
  consume(call: ApprovalCall): Promise<ApprovalRecord | null>;
  close(): Promise<void>;
}
