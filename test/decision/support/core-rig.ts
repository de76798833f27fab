/**
 * The transport-neutral decision core built from real parts for a test: the policy manager on a
 * cedar/ directory, the verifier with the development issuer, the memory stores; the state reader
 * is the real one behind a gate the test can hold; records are collected.
 */
import { randomUUID } from "node:crypto";
import { pino } from "pino";
import type { DecisionRecord } from "../../../src/audit/decision-record.js";
import { loadConfig } from "../../../src/config/load-config.js";
import { createDecisionCore, type DecisionCore, type DecisionCoreDeps, type DecisionCoreSettings } from "../../../src/decision/decision-core.js";
import type { RequestContext } from "../../../src/decision/types.js";
import { createTokenVerifier } from "../../../src/identity/token-verifier.js";
import { createPolicyManager, type PolicyManager } from "../../../src/policy/policy-manager.js";
import { MemoryApprovalStore } from "../../../src/session/memory-approval-store.js";
import { MemoryDecisionStateReader } from "../../../src/session/memory-decision-state-reader.js";
import { MemoryRevocationStore } from "../../../src/session/memory-revocation-store.js";
import { MemorySessionStore } from "../../../src/session/memory-session-store.js";
import { MemoryToolDefinitionStore } from "../../../src/session/memory-tool-definition-store.js";
import type { DecisionObserver } from "../../../src/decision/decision-observer.js";
import type { NoveltyStore } from "../../../src/session/novelty-types.js";
import type { DecisionStateReader } from "../../../src/session/types.js";

/** A decision core for one test. */
export interface Rig {
  readonly core: DecisionCore;
  readonly policies: PolicyManager;
  readonly sessions: MemorySessionStore;
  readonly definitions: MemoryToolDefinitionStore;
  readonly records: DecisionRecord[];
  /** The next state load waits until the returned function is called. */
  hold(): { reached: Promise<void>; release: () => void };
  close(): Promise<void>;
}

/** Parts a test may add to the core. */
export interface RigExtras extends Pick<DecisionCoreDeps, "shadow" | "observer"> {
  readonly novelty?: NoveltyStore;
}

/** Builds a core over `dir`; `maxInFlight` bounds its decisions in flight (default 64); `extras` adds core deps (shadow, observer, novelty). */
export async function rig(dir: string, maxInFlight = 64, extras: RigExtras = {}): Promise<Rig> {
  const config = loadConfig({ env: {}, overrides: { cedarDir: dir, sessions: { required: true } } });
  const logger = pino({ level: "silent" });
  const policies = createPolicyManager({ dir, logger, watch: false });
  const sessions = new MemorySessionStore();
  const revocations = new MemoryRevocationStore();
  const real = new MemoryDecisionStateReader(sessions, revocations);
  let gate: { reached: () => void; opened: Promise<void> } | undefined;
  const state: DecisionStateReader = {
    async loadForDecision(id, subjects) {
      const g = gate;
      gate = undefined;
      if (g) {
        g.reached();
        await g.opened;
      }
      return real.loadForDecision(id, subjects);
    },
  };
  const records: DecisionRecord[] = [];
  const definitions = new MemoryToolDefinitionStore();
  const verifier = createTokenVerifier(config.identity, { operators: [] });
  const core = createDecisionCore({
    ...(extras.shadow && { shadow: extras.shadow }),
    verifier,
    policy: () => policies.current(),
    state,
    sessions,
    revocations,
    approvals: new MemoryApprovalStore(),
    definitions,
    ...(extras.novelty && { novelty: extras.novelty }),
    ...(extras.observer && { observer: extras.observer }),
    audit: { append: (r) => void records.push(r), appendDurable: async (r) => void records.push(r) },
    settings: rigSettings(config.identity.pdpAudience, { maxInFlight, auditRequired: false }),
  });
  return {
    core,
    policies,
    sessions,
    definitions,
    records,
    hold() {
      let reached!: () => void;
      let release!: () => void;
      const r = new Promise<void>((res) => (reached = res));
      const opened = new Promise<void>((res) => (release = res));
      gate = { reached, opened };
      return { reached: r, release };
    },
    async close() {
      policies.close();
      await sessions.close();
      await revocations.close();
      await verifier.close();
    },
  };
}

/** The core's settings in a test: sessions required, the rest as given. */
export function rigSettings(pdpAudience: string, s: Pick<DecisionCoreSettings, "maxInFlight" | "auditRequired">): DecisionCoreSettings {
  return {
    limits: { maxArgumentsBytes: 65536 },
    sessions: { required: true, defaultTtlMs: 600_000, maxTtlMs: 900_000, maxRequestedItems: 100, approvalTtlMs: 600_000 },
    auditRequired: s.auditRequired,
    revocationTtlMs: 3_600_000,
    pdpAudience,
    maxInFlight: s.maxInFlight,
  };
}

/** A request context with the development caller. */
export function ctx(): RequestContext {
  return { decisionId: randomUUID(), caller: { id: "development", via: "development", operator: true }, logger: pino({ level: "silent" }), receivedAt: process.hrtime.bigint() };
}
