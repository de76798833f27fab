/**
 * The shapes of the decision core. Doors (gRPC, AuthZEN, the gateway) translate their wire into a
 * question, the core checks and verifies it into one {@link DecisionRequest}, and everything else
 * — the Cedar input, the revocation subjects, the approval key, the session binding, the audit
 * record — is derived from that request by pure functions (see `derive.ts`). Nothing here knows a
 * wire format.
 */
import type { Logger } from "pino";
import type { PdpError, ReasonCode } from "../errors.js";
import type { VerifiedCaller, VerifiedUser, VerifiedWorkload } from "../identity/types.js";
import type { DeterminingPolicy, JsonValue } from "../policy/types.js";
import type { CallFacts } from "../session/types.js";

/** A JSON object, as tool arguments arrive. */
export type JsonObject = { readonly [key: string]: JsonValue };

/** What kind of MCP item a question is about. */
export type ItemKind = "tool" | "resource" | "prompt";

/**
 * An allowed call's entry in its session's history: an effect the decision returns and the runner
 * commits only if the answer stays ALLOW — with its durable record where the audit can carry it.
 */
export interface HistoryAppend {
  readonly sessionId: string;
  readonly call: CallFacts;
}

/** The MCP item asked for: a tool or prompt by name, a resource by URI. */
export interface Item {
  readonly kind: ItemKind;
  readonly name: string;
}

/** Which operation decided; records, logs and metrics carry it. */
export type DecisionKind =
  | "authorize"
  | "filter_tools"
  | "open_session"
  | "end_session"
  | "revoke"
  | "decide_approval"
  | "approval_expired";

/** The caller of a request: authenticated by the door, or the reason it could not be. */
export type Caller = VerifiedCaller | PdpError;

/** What a door hands the core with every question. */
export interface RequestContext {
  /** Minted by the door; in the answer, the record and every log line of this request. */
  readonly decisionId: string;
  readonly caller: Caller;
  /** A child of the root logger bound to this request (decision id, kind, caller). */
  readonly logger: Logger;
  /** `process.hrtime.bigint()` when the door received the request (latency in the record). */
  readonly receivedAt: bigint;
  /**
   * Set when the enforcement point says the workload token it sends is its own stand-in: the MCP
   * request attested no agent (a stock client's bearer without `act`, no workload token). Policy
   * then sees `context.agent_attestation == "client"`. It can only lower the attestation, never
   * raise it, so a caller need not be trusted to say it.
   */
  readonly agentStandIn?: boolean;
}

/** The fields every delegated question declares (tokens still opaque, nothing verified yet). */
export interface DelegatedQuestion {
  /** Set by a door when the message could not be read at all (refused as INVALID_REQUEST). */
  readonly malformed?: string;
  /** Never logged, never recorded. */
  readonly userToken: string;
  /** Never logged, never recorded. */
  readonly workloadToken: string;
  readonly clientId: string;
  readonly serverId: string;
  readonly purpose: string;
  /**
   * The user's subject as the door's wire declares it besides the token (AuthZEN `subject.id`);
   * absent when the wire has no such field. Trusted only when it equals the verified token's `sub`.
   */
  readonly userSubject?: string;
  /**
   * Instead of tokens: the user's and the agent's claims, asserted by the caller. Decided on only
   * when the caller is one the deployment trusts to assert claims (`claimAsserters`); policy sees
   * that it was (context `claims_asserted`), and the record names the caller.
   */
  readonly asserted?: AssertedClaims;
}

/** The claims a trusted caller asserts in place of the user's and the agent's tokens. */
export interface AssertedClaims {
  readonly user: {
    readonly issuer: string;
    readonly subject: string;
    readonly scopes: readonly string[];
  };
  /** The agent's workload identity (a SPIFFE ID). */
  readonly agentId: string;
}

/** Authorize: may this call happen now? */
export interface AuthorizeQuestion extends DelegatedQuestion {
  /** The task session handle; `""` for none. */
  readonly sessionId: string;
  /** What the PEP is about to do; undefined when the door did not recognise it. */
  readonly action: ItemKind | undefined;
  /** Tool or prompt name (`""` for a resource read). */
  readonly tool: string;
  /** The resource read, or the resource a tool call targets; `""` for none. */
  readonly resourceUri: string;
  readonly arguments: JsonObject | undefined;
}

/** FilterTools: which of these tools may this session see? */
export interface FilterToolsQuestion extends DelegatedQuestion {
  readonly sessionId: string;
  readonly tools: readonly string[];
}

/** OpenSession: start a delegated task session with these items. */
export interface OpenSessionQuestion extends DelegatedQuestion {
  readonly tools: readonly string[];
  readonly resources: readonly string[];
  readonly prompts: readonly string[];
  /** Requested lifetime in ms; 0 for the default. */
  readonly ttlMs: number;
}

/** The call's arguments, checked, with their digest (SHA-256 of their canonical JSON). */
export interface Arguments {
  readonly value: JsonObject;
  readonly digest: string;
}

/**
 * How the agent of a request was established (context `agent_attestation`): `spiffe` — a workload
 * token whose `sub` is the agent's SPIFFE ID (a JWT-SVID), or an agent id asserted by a trusted
 * caller; `act` — the RFC 8693 `act.sub` of a verified token; `client` — nothing attested it: the
 * enforcement point presented its own stand-in agent for a caller that sent only an OAuth token.
 */
export type AgentAttestation = "spiffe" | "act" | "client";

/** The verified parties of a delegated request. */
export interface VerifiedParties {
  readonly user: VerifiedUser;
  readonly agent: VerifiedWorkload;
  /** How the agent was established. */
  readonly agentAttestation: AgentAttestation;
  /** Set when the parties were asserted by this trusted caller rather than verified from tokens. */
  readonly assertedBy?: string;
}

/**
 * THE request shape of the core: a delegated question after its fields were checked and its
 * tokens verified. Built once per decision; every other shape is derived from it.
 */
export interface DecisionRequest {
  readonly caller: VerifiedCaller;
  readonly parties: VerifiedParties;
  /** Declared by the PEP and checked: equals the user token's client. */
  readonly clientId: string;
  /** Declared by the PEP and checked: the caller's own identity, and in the user token's audience. */
  readonly serverId: string;
  readonly purpose: string;
  /** The task session handle, when the question named one. */
  readonly sessionId?: string;
  /** The item asked for (Authorize only). */
  readonly item?: Item;
  /** The resource a tool call targets (Authorize, call_tool, when the PEP named one). */
  readonly resourceUri?: string;
  readonly arguments?: Arguments;
}

/** Something the PEP must do with a decision. */
export type Obligation =
  | { readonly kind: "approval"; readonly approvalId: string; readonly expiresAt: number }
  | { readonly kind: "step_up"; readonly scopes: readonly string[] }
  | { readonly kind: "reauthorize"; readonly changed: string };

/** What a decision came to. */
export interface Outcome {
  readonly allow: boolean;
  readonly reasonCode: ReasonCode;
  readonly reasons: readonly DeterminingPolicy[];
  /** Short, caller-safe explanation. */
  readonly message: string;
  readonly obligations?: readonly Obligation[];
}

/** A finished decision, as the core returns it to a door. */
export interface Decided<T> {
  readonly outcome: Outcome;
  readonly decisionId: string;
  /** The policy version it was decided under. */
  readonly version: string;
  readonly at: Date;
  /** Kind-specific results for the door to shape (the opened session, the visible tools, …). */
  readonly value?: T;
  /** The failure that made it a DENY, if one did (for RPCs that answer failures with a status). */
  readonly error?: PdpError;
}
