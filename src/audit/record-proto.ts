import { create } from "@bufbuild/protobuf";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { PdpError } from "../errors.js";
import { DecisionRecordSchema, type DecisionRecord as DecisionRecordMessage, type QueryDecisionsRequest } from "../gen/mcppdp/v1/audit_pb.js";
import { Action, Decision, ReasonCode } from "../gen/mcppdp/v1/common_pb.js";
import type { ChainedRecord } from "./decision-record.js";
import { canonicalJson } from "./hash-chain.js";
import type { AuditFilter, StoredRecord } from "./types.js";

const ACTIONS: Record<string, Action> = {
  call_tool: Action.CALL_TOOL,
  read_resource: Action.READ_RESOURCE,
  get_prompt: Action.GET_PROMPT,
};

/** The wire form of a stored record (with its canonical JSON, so hashes can be checked by the client). */
export function recordToMessage(stored: StoredRecord): DecisionRecordMessage {
  const r = stored.record;
  const ms = Date.parse(r.time);
  return create(DecisionRecordSchema, {
    ...(Number.isFinite(ms) && { time: timestampFromDate(new Date(ms)) }),
    decisionId: r.decisionId,
    instance: r.instance,
    kind: r.kind,
    sessionId: r.sessionId ?? "",
    userIssuer: r.userIssuer ?? "",
    userSubject: r.userSubject ?? "",
    agentId: r.agentId ?? "",
    clientId: r.clientId ?? "",
    serverId: r.serverId ?? "",
    idp: r.idp ?? "",
    action: ACTIONS[r.action ?? ""] ?? Action.UNSPECIFIED,
    tool: r.tool ?? "",
    resourceUri: r.resourceUri ?? "",
    purpose: r.purpose ?? "",
    argumentsDigest: r.argumentsDigest ?? "",
    toolDefinitionDigest: r.toolDefinitionDigest ?? "",
    recordedArguments: Object.fromEntries(Object.entries(r.recordedArguments ?? {}).map(([k, v]) => [k, JSON.stringify(v)])),
    decision: r.decision === "ALLOW" ? Decision.ALLOW : Decision.DENY,
    reasonCode: (ReasonCode as unknown as Record<string, ReasonCode>)[r.reasonCode] ?? ReasonCode.UNSPECIFIED,
    reasons: (r.reasons ?? []).map((x) => ({ policyId: x.policyId, reason: x.reason })),
    policyVersion: r.policyVersion,
    latencyUs: BigInt(Math.trunc(r.latencyUs ?? 0)),
    sequence: BigInt(r.sequence),
    prevHash: r.prevHash,
    hash: r.hash,
    caller: r.caller ?? "",
    message: r.message ?? "",
    claimsAssertedBy: r.claimsAssertedBy ?? "",
    firstSeen: [...(r.firstSeen ?? [])],
    firstSeenScopes: [...(r.firstSeenScopes ?? [])],
    firstSeenPaths: [...(r.firstSeenPaths ?? [])],
    entryId: stored.entryId,
    canonicalJson: canonicalJson(r),
    replayFacts: r.replay ? canonicalJson(r.replay) : "",
    ...(r.shadow && {
      shadow: {
        decision: r.shadow.decision === "ALLOW" ? Decision.ALLOW : Decision.DENY,
        reasonCode: (ReasonCode as unknown as Record<string, ReasonCode>)[r.shadow.reasonCode] ?? ReasonCode.UNSPECIFIED,
        policies: [...r.shadow.policies],
        policyVersion: r.shadow.version,
      },
    }),
  });
}

/** The stored record back from its wire form (from `canonical_json`). */
export function recordFromMessage(m: DecisionRecordMessage): StoredRecord {
  try {
    return { entryId: m.entryId, record: JSON.parse(m.canonicalJson) as ChainedRecord };
  } catch (err) {
    throw new PdpError("INVALID_REQUEST", "record without canonical JSON", { cause: err });
  }
}

/** A query filter from the wire (empty string / UNSPECIFIED = no filter). */
export function filterFromMessage(m: QueryDecisionsRequest): AuditFilter {
  const s = (v: string) => (v === "" ? undefined : v);
  const f: Record<string, unknown> = {
    since: m.startTime ? new Date(Number(m.startTime.seconds) * 1000 + Math.floor(m.startTime.nanos / 1e6)) : undefined,
    until: m.endTime ? new Date(Number(m.endTime.seconds) * 1000 + Math.floor(m.endTime.nanos / 1e6)) : undefined,
    sessionId: s(m.sessionId),
    userSubject: s(m.userSubject),
    userIssuer: s(m.userIssuer),
    agentId: s(m.agentId),
    clientId: s(m.clientId),
    serverId: s(m.serverId),
    tool: s(m.tool),
    decision: m.decision === Decision.ALLOW ? "ALLOW" : m.decision === Decision.DENY ? "DENY" : undefined,
    reasonCode: m.reasonCode === ReasonCode.UNSPECIFIED ? undefined : ReasonCode[m.reasonCode],
    policyId: s(m.policyId),
    kind: s(m.kind),
    shadowDisagrees: m.shadowDisagrees || undefined,
    firstSeen: m.firstSeen ? true : undefined,
  };
  for (const k of Object.keys(f)) if (f[k] === undefined) delete f[k];
  if (m.reasonCode !== ReasonCode.UNSPECIFIED && f.reasonCode === undefined) throw new PdpError("INVALID_REQUEST", "unknown reason code");
  return f as AuditFilter;
}
