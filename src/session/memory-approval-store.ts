import { PdpError } from "../errors.js";
import { approvalCallKey, approvalState, newApprovalId } from "./approval-call.js";
import type { ApprovalCall, ApprovalFilter, ApprovalRecord, ApprovalRequest, ApprovalStore } from "./approval-types.js";

/** Options for {@link MemoryApprovalStore}. */
export interface MemoryApprovalStoreOptions {
  /** Clock, ms since the epoch. Default `Date.now`. */
  readonly now?: () => number;
  /** How long a decided or expired approval stays listable after its expiry. Default 1 h. */
  readonly retentionMs?: number;
  /** Most approvals held; when full (after pruning) `request` fails STORE_UNAVAILABLE. Default 100 000. */
  readonly maxApprovals?: number;
}

/** In-memory {@link ApprovalStore} (one process). Atomic by construction: JavaScript runs one thing at a time. */
export class MemoryApprovalStore implements ApprovalStore {
  readonly #now: () => number;
  readonly #retentionMs: number;
  readonly #max: number;
  readonly #byId = new Map<string, ApprovalRecord>();
  readonly #live = new Map<string, string>();

  constructor(options: MemoryApprovalStoreOptions = {}) {
    this.#now = options.now ?? Date.now;
    this.#retentionMs = options.retentionMs ?? 3_600_000;
    this.#max = options.maxApprovals ?? 100_000;
  }

  async request(call: ApprovalCall, meta: { policyVersion: string; expiresAt: number }): Promise<ApprovalRequest> {
    const now = this.#now();
    const key = approvalCallKey(call);
    const existing = this.#byId.get(this.#live.get(key) ?? "");
    if (existing && ["pending", "approved"].includes(approvalState(existing, now))) return { approval: existing };
    this.#prune(now);
    if (this.#byId.size >= this.#max) throw new PdpError("STORE_UNAVAILABLE", "approval store full");
    const record: ApprovalRecord = { ...call, id: newApprovalId(), state: "pending", policyVersion: meta.policyVersion, requestedAt: now, expiresAt: meta.expiresAt };
    this.#byId.set(record.id, record);
    this.#live.set(key, record.id);
    return { approval: record, ...(existing && { previous: { ...existing, state: approvalState(existing, now) } }) };
  }

  async get(id: string): Promise<ApprovalRecord | undefined> {
    const a = this.#byId.get(id);
    return a && { ...a, state: approvalState(a, this.#now()) };
  }

  async list(filter: ApprovalFilter, limit: number): Promise<ApprovalRecord[]> {
    const now = this.#now();
    return [...this.#byId.values()]
      .map((a) => ({ ...a, state: approvalState(a, now) }))
      .filter((a) => matches(a, filter))
      .sort((a, b) => b.requestedAt - a.requestedAt)
      .slice(0, limit);
  }

  async decide(id: string, verdict: "approved" | "rejected", decidedBy: string, comment: string): Promise<ApprovalRecord | undefined> {
    const a = this.#byId.get(id);
    if (!a) return undefined;
    const now = this.#now();
    const state = approvalState(a, now);
    if (state !== "pending") throw new PdpError("INVALID_REQUEST", `approval is ${state}, not pending`);
    const decided: ApprovalRecord = { ...a, state: verdict, decidedBy, decidedAt: now, comment };
    this.#byId.set(id, decided);
    return decided;
  }

  async consume(call: ApprovalCall): Promise<ApprovalRecord | null> {
    const now = this.#now();
    const a = this.#byId.get(this.#live.get(approvalCallKey(call)) ?? "");
    if (!a || approvalState(a, now) !== "approved") return null;
    const used: ApprovalRecord = { ...a, state: "used", usedAt: now };
    this.#byId.set(a.id, used);
    return used;
  }

  async close(): Promise<void> {}

  #prune(now: number): void {
    for (const [id, a] of this.#byId) if (a.expiresAt + this.#retentionMs <= now) this.#byId.delete(id);
    for (const [key, id] of this.#live) if (!this.#byId.has(id)) this.#live.delete(key);
  }
}

/** Whether an approval passes a filter. */
export function matches(a: ApprovalRecord, f: ApprovalFilter): boolean {
  return (!f.state || a.state === f.state) && (!f.tool || a.tool === f.tool) && (!f.userSubject || a.userSubject === f.userSubject) && (!f.sessionId || a.sessionId === f.sessionId);
}
