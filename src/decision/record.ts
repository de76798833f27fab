import { hostname } from "node:os";
import type { DecisionRecord, ShadowVerdict } from "../audit/decision-record.js";
import type { ReplayFacts } from "../policy/replay-facts.js";
import type { ApprovalRecord } from "../session/approval-types.js";
import { PdpError } from "../errors.js";
import { ACTION_OF } from "./derive.js";
import type { FirstSeen } from "./novelty.js";
import type { Caller, DecisionKind, DecisionRequest, Outcome } from "./types.js";

/**
 * Who asked for what, as a record states it: the fields the question declared, replaced by the
 * verified ones as soon as they are known. Built by pure functions from the question and the
 * {@link DecisionRequest} (see `subjectOf`), never filled step by step.
 */
export interface RecordSubject {
  readonly caller?: string;
  readonly sessionId?: string;
  readonly user?: { readonly issuer: string; readonly subject: string };
  readonly agentId?: string;
  readonly clientId?: string;
  readonly serverId?: string;
  readonly purpose?: string;
  /** The Cedar action (`call_tool`, `open_session`, `approve`, …). */
  readonly action?: string;
  readonly tool?: string;
  readonly resourceUri?: string;
  readonly argumentsDigest?: string;
  /** Argument values the tool's declared definition lets records keep. */
  readonly recordedArguments?: Readonly<Record<string, string | number | boolean>>;
  /** The called tool's definition digest (see decision/tool-pins.ts). */
  readonly toolDefinitionDigest?: string;
  readonly approvalId?: string;
  /** The policy version the decision was made under, when it got that far. */
  readonly policyVersion?: string;
  /** The caller that asserted the user's and the agent's claims, when they were not verified from tokens. */
  readonly claimsAssertedBy?: string;
  /** The facts policy evaluated, for replay and shadow evaluation. */
  readonly replay?: ReplayFacts;
  /** What the decision's request established for the first time (see decision/novelty.ts). */
  readonly firstSeen?: FirstSeen;
}

/** Longest string a record keeps of any field; longer ones are cut and their length noted. */
export const MAX_RECORD_FIELD = 512;

/** Largest replay facts a record keeps (JSON characters); larger ones are left out and their size noted. */
export const MAX_REPLAY_FACTS = 16 * 1024;

const INSTANCE = `${hostname()}:${process.pid}`;

/** What a question declared, before anything was verified (fields are cut to the record's bound by {@link toRecord}). */
export function declaredSubject(
  q: { readonly clientId: string; readonly serverId: string; readonly purpose: string; readonly sessionId?: string; readonly tool?: string; readonly resourceUri?: string },
  caller: Caller,
): RecordSubject {
  return {
    ...(!(caller instanceof PdpError) && { caller: caller.id }),
    ...(q.sessionId && { sessionId: q.sessionId }),
    ...(q.clientId && { clientId: q.clientId }),
    ...(q.serverId && { serverId: q.serverId }),
    ...(q.purpose && { purpose: q.purpose }),
    ...(q.tool && { tool: q.tool }),
    ...(q.resourceUri && { resourceUri: q.resourceUri }),
  };
}

/** The subject of a delegated request: its verified parties and checked fields (`action`: default the item's). */
export function subjectOf(request: DecisionRequest, action: string | undefined = request.item && ACTION_OF[request.item.kind]): RecordSubject {
  const { user, agent } = request.parties;
  return {
    caller: request.caller.id,
    ...(request.sessionId !== undefined && { sessionId: request.sessionId }),
    user: { issuer: user.issuer, subject: user.subject },
    agentId: agent.agentId,
    clientId: request.clientId,
    serverId: request.serverId,
    purpose: request.purpose,
    ...(action !== undefined && { action }),
    ...(request.item && request.item.kind !== "resource" && { tool: request.item.name }),
    ...(request.item?.kind === "resource" ? { resourceUri: request.item.name } : request.resourceUri !== undefined && { resourceUri: request.resourceUri }),
    ...(request.arguments && { argumentsDigest: request.arguments.digest }),
    ...(request.parties.assertedBy !== undefined && { claimsAssertedBy: request.parties.assertedBy }),
  };
}

/** The subject of an approval: the call it is for (its requesting user and agent). */
export function approvalSubject(a: ApprovalRecord): RecordSubject {
  return {
    sessionId: a.sessionId,
    user: { issuer: a.userIssuer, subject: a.userSubject },
    agentId: a.agentId,
    clientId: a.clientId,
    serverId: a.serverId,
    purpose: a.purpose,
    tool: a.tool,
    ...(a.resourceUri && { resourceUri: a.resourceUri }),
    argumentsDigest: a.argumentsDigest,
    approvalId: a.id,
  };
}

/** What {@link toRecord} needs besides the subject. */
export interface RecordMeta {
  readonly kind: DecisionKind;
  readonly decisionId: string;
  readonly at: Date;
  readonly version: string;
  readonly latencyUs: number;
  /** The shadow set's answer, when it disagreed. */
  readonly shadow?: ShadowVerdict;
}

/**
 * The decision record: one per decision, built here and nowhere else. Every string is bounded by
 * {@link MAX_RECORD_FIELD} (a refused oversized field costs the record 512 characters and its
 * length in `truncated`, never its size). Never a token: the subject has no field for one.
 * Absent facts stay `undefined` (serialisers leave them out).
 */
export function toRecord(meta: RecordMeta, subject: RecordSubject, outcome: Outcome): DecisionRecord {
  const truncated: Record<string, number> = {};
  const clip = (name: string, value: string | undefined): string | undefined => {
    if (value === undefined || value.length <= MAX_RECORD_FIELD) return value;
    truncated[name] = value.length;
    // A copy, not a slice: V8 slices keep the whole original string alive.
    return Buffer.from(value.slice(0, MAX_RECORD_FIELD), "utf8").toString("utf8");
  };
  const s = subject;
  const record: { -readonly [K in keyof DecisionRecord]: DecisionRecord[K] } = {
    time: meta.at.toISOString(),
    decisionId: meta.decisionId,
    instance: INSTANCE,
    kind: meta.kind,
    sessionId: clip("sessionId", s.sessionId),
    userIssuer: clip("userIssuer", s.user?.issuer),
    userSubject: clip("userSubject", s.user?.subject),
    agentId: clip("agentId", s.agentId),
    clientId: clip("clientId", s.clientId),
    serverId: clip("serverId", s.serverId),
    idp: clip("idp", s.user?.issuer),
    caller: clip("caller", s.caller),
    action: s.action,
    tool: clip("tool", s.tool),
    resourceUri: clip("resourceUri", s.resourceUri),
    purpose: clip("purpose", s.purpose),
    argumentsDigest: s.argumentsDigest,
    ...(s.toolDefinitionDigest !== undefined && { toolDefinitionDigest: s.toolDefinitionDigest }),
    ...(s.recordedArguments !== undefined && { recordedArguments: s.recordedArguments }),
    approvalId: clip("approvalId", s.approvalId),
    claimsAssertedBy: clip("claimsAssertedBy", s.claimsAssertedBy),
    ...(s.firstSeen && {
      firstSeen: s.firstSeen.kinds,
      ...(s.firstSeen.scopes.length > 0 && { firstSeenScopes: s.firstSeen.scopes.map((x) => clip("firstSeenScopes", x)!) }),
      ...(s.firstSeen.paths.length > 0 && { firstSeenPaths: s.firstSeen.paths.map((x) => clip("firstSeenPaths", x)!) }),
    }),
    decision: outcome.allow ? "ALLOW" : "DENY",
    reasonCode: outcome.reasonCode,
    reasons: outcome.reasons.map((r) => ({ policyId: r.policyId, reason: r.reason })),
    policyVersion: meta.version,
    latencyUs: meta.latencyUs,
    message: outcome.allow ? undefined : clip("message", outcome.message),
  };
  if (s.replay !== undefined) {
    const size = JSON.stringify(s.replay).length;
    if (size <= MAX_REPLAY_FACTS) record.replay = s.replay;
    else truncated["replay"] = size;
  }
  if (meta.shadow !== undefined) record.shadow = meta.shadow;
  for (const _ in truncated) {
    record.truncated = truncated;
    break;
  }
  return record;
}
