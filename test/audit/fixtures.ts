/** Decision records for audit tests: varied enough that every filter has something to find. */
import { pino } from "pino";
import { randomUUID } from "node:crypto";
import type { DecisionRecord } from "../../src/audit/decision-record.js";

export const USERS = ["alice", "bob", "carol"] as const;
export const AGENTS = ["spiffe://example.org/agent/a", "spiffe://example.org/agent/b"] as const;
export const CLIENTS = ["client-1", "client-2"] as const;
export const SERVERS = ["https://docs.example.com/mcp", "https://crm.example.com/mcp"] as const;
export const TOOLS = ["search", "read_doc", "send_mail", "deploy"] as const;
export const SESSIONS = ["s-1", "s-2", "s-3", "s-4", "s-5"] as const;

/** The i-th record of a deterministic mix. */
export function mixedRecord(i: number, extra: Partial<DecisionRecord> = {}): DecisionRecord {
  const allow = i % 3 !== 0;
  const deniedBy = i % 2 === 0 ? "POLICY_DENIED" : "NO_PERMIT";
  return {
    time: new Date().toISOString(),
    decisionId: randomUUID(),
    instance: "test:1",
    kind: i % 7 === 0 ? "filter_tools" : "authorize",
    sessionId: SESSIONS[i % SESSIONS.length],
    userIssuer: i % 11 === 0 ? "https://other-idp.example" : "https://idp.example",
    userSubject: USERS[i % USERS.length],
    agentId: AGENTS[i % AGENTS.length],
    clientId: CLIENTS[(i >> 1) % CLIENTS.length],
    serverId: SERVERS[(i >> 2) % SERVERS.length],
    idp: "https://idp.example",
    caller: SERVERS[(i >> 2) % SERVERS.length],
    action: "call_tool",
    tool: TOOLS[i % TOOLS.length],
    purpose: "research",
    argumentsDigest: "0".repeat(64),
    decision: allow ? "ALLOW" : "DENY",
    reasonCode: allow ? "ALLOWED" : deniedBy,
    reasons: allow
      ? [{ policyId: "tool-allowlist", reason: "the tool is on the allowlist" }]
      : deniedBy === "POLICY_DENIED"
        ? [{ policyId: i % 4 === 0 ? "chain-rule" : "purpose-binding", reason: "denied" }]
        : [],
    policyVersion: "abcdef0123456789",
    latencyUs: 100 + (i % 50),
    ...(i % 13 === 5 && { firstSeen: ["client_for_user"] }),
    ...extra,
  };
}

/** n records of the mix. */
export function mixedRecords(n: number, from = 0): DecisionRecord[] {
  return Array.from({ length: n }, (_, i) => mixedRecord(from + i));
}

/** A quiet operational logger whose lines are kept in `lines`. */
export function captureLogger(): { logger: import("pino").Logger; lines: string[] } {
  const lines: string[] = [];
  const logger = pino({ level: "debug" }, { write: (s: string) => void lines.push(s) });
  return { logger, lines };
}

/** Waits until `check()` is true (polling), or fails after `ms`. */
export async function until(check: () => boolean | Promise<boolean>, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > end) throw new Error("condition not reached in time");
    await new Promise((r) => setTimeout(r, 10));
  }
}
