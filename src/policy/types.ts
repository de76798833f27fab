/** The policy engine's contract with the decision pipeline. */
import type { KnownTool, ToolAnnotations } from "./tool-definitions.js";

import type { JsonValue } from "./json-value.js";

export type { JsonValue };

/** The Cedar actions the PDP evaluates. */
export type PolicyAction = "open_session" | "call_tool" | "read_resource" | "get_prompt" | "approve";

/**
 * One authorization question in verified terms. Built by the decision pipeline from verified tokens
 * and checked request fields only; the engine turns it into a Cedar request (entities, context).
 */
export interface DecisionInput {
  /** The agent workload (verified SPIFFE ID and its trust domain). The Cedar principal. */
  readonly agent: { readonly id: string; readonly trustDomain: string };
  /** The user the agent acts for (verified). */
  readonly user: { readonly issuer: string; readonly subject: string; readonly scopes: readonly string[] };
  /** The MCP client (verified: equals the token's client_id/azp). */
  readonly clientId: string;
  /** The protected MCP server's canonical URI (verified: the caller's own identity, and in the token's aud). */
  readonly serverId: string;
  /** The identity provider that issued the user token (its issuer URL). */
  readonly idp: string;
  readonly action: PolicyAction;
  /** Tool or prompt name (call_tool, get_prompt). */
  readonly tool?: string;
  /**
   * Resource URI: the resource read (read_resource; also its Cedar resource), or the resource a
   * tool call targets when the PEP named one (call_tool). Context `resource_uri` either way.
   */
  readonly resourceUri?: string;
  /** Declared purpose of the task. */
  readonly purpose: string;
  /**
   * How the agent was established (context `agent_attestation`): `spiffe` (a JWT-SVID), `act` (an
   * RFC 8693 `act.sub`) or `client` (no agent attested: the enforcement point's stand-in). The
   * decision core always sets it; absent, the shipped policies treat the agent as unattested.
   */
  readonly agentAttestation?: "spiffe" | "act" | "client";
  /** The call's arguments (a JSON object). */
  readonly arguments?: { readonly [key: string]: JsonValue };
  /**
   * call_tool of a tool with a known definition: its arguments already checked and typed
   * (`KnownTool.check`), for context `args.<tool>`. When absent, the engine checks `arguments`
   * itself, and a call that does not conform fails to evaluate (deny).
   */
  readonly typedArguments?: JsonValue;
  /**
   * call_tool: the tool's MCP annotations and where its definition came from. Declared ones
   * (cedar/definitions) always reach policy (context `annotations`); reported ones only when the
   * server's entity says `trust_annotations: true` — the MCP specification has clients treat
   * annotations as untrusted unless they come from trusted servers.
   */
  readonly toolAnnotations?: { readonly source: "reported" | "declared"; readonly hints: ToolAnnotations };
  /** The session so far, when there is one (policy input for chain and budget rules). */
  readonly session?: SessionFacts;
  /**
   * Which relations of this request the deployment sees for the first time within its look-back
   * window (context `novelty`; docs/trust-expansion.md). Absent when not known (no session, or
   * novelty off).
   */
  readonly novelty?: NoveltyFacts;
  /**
   * True when the user's and the agent's claims were asserted by a trusted caller rather than
   * verified from their tokens (context `claims_asserted`), so that policy can treat them apart.
   */
  readonly claimsAsserted?: boolean;
  /**
   * `open_session` only: the session lifetime the PEP asked for, in whole seconds (context
   * `requested_ttl_seconds`; checked by `session-max-ttl`). Pass the requested TTL before any
   * capping, so that a request over the server's limit is refused visibly. Must be an integer.
   */
  readonly requestedTtlSeconds?: number;
  /**
   * True only when a human approval for exactly this call is being used (context `approved`):
   * approval policies lift themselves with `unless { context has approved && context.approved }`.
   */
  readonly approved?: boolean;
  /**
   * `approve` only. The principal is then `user` (the verified approver) and the resource `tool`;
   * this is the user whose call awaits approval (context `requesting_user`), and `agent` the agent
   * that made it (context `requester`).
   */
  readonly requestingUser?: { readonly issuer: string; readonly subject: string };
}

/** First-seen relations of a request, as policy sees them (context `novelty`). */
export interface NoveltyFacts {
  /** (a) this client acting for this user. */
  readonly clientForUser: boolean;
  /** (b) this agent at this server. */
  readonly agentAtServer: boolean;
  /** (c) this client at this server. */
  readonly clientAtServer: boolean;
  /** (d) this IdP for this server. */
  readonly idpForServer: boolean;
  /** (e) scopes of the user token not seen before for this user and client. */
  readonly newScopes: readonly string[];
  /** (f) call_tool of a brokered tool: the path (server → upstream vendor) is new for this agent. */
  readonly brokerPath: boolean;
}

/** What a session has done so far, as policy sees it. */
export interface SessionFacts {
  readonly callCount: number;
  /** Tool names called so far in this session, oldest first (bounded). */
  readonly tools: readonly string[];
  /** Data labels accumulated from tools called so far (e.g. `sensitive`). */
  readonly labels: readonly string[];
  /** Sum of the risk scores of the tools called so far. */
  readonly riskTotal: number;
}

/** What a forbid's `@obligation` annotation says can lift it. */
export type PolicyObligation = "approval" | "step_up";

/** A determining policy: its `@id` and `@reason` annotations. */
export interface DeterminingPolicy {
  readonly policyId: string;
  readonly reason: string;
  /** For an applied forbid with `@obligation("approval" | "step_up")`: what can lift it. */
  readonly obligation?: PolicyObligation;
}

/** The engine's answer. */
export interface PolicyDecision {
  /** `allow` only when a permit applied, no forbid applied, and no forbid failed to evaluate. */
  readonly decision: "allow" | "deny";
  /**
   * Why: `permit` (a permit applied), `forbid` (a forbid applied), `no_permit` (default deny),
   * `error` (a forbid policy errored, or Cedar failed: fail closed).
   */
  readonly outcome: "permit" | "forbid" | "no_permit" | "error";
  /** Determining policies (sorted by policy id for a stable order). */
  readonly reasons: readonly DeterminingPolicy[];
  /** Evaluation errors, with the policy `@id` they came from (for logs; never shown to callers verbatim). */
  readonly errors: readonly string[];
  /** The version (hash) of the policy set this decision was made under. */
  readonly version: string;
}

/** What the static entities say about a tool (from `cedar/entities`). */
export interface ToolInfo {
  readonly serverId: string;
  readonly name: string;
  readonly risk: number;
  readonly labels: readonly string[];
  readonly impact: string;
  /** OAuth scopes a user token needs for this tool (`required_scopes`), empty when none. */
  readonly requiredScopes: readonly string[];
  /**
   * For a tool on a broker server (`broker: true`): the path it opens, `<server> -> <vendor>`, the
   * vendor being the tool's `upstream_vendor` (else the server's own `vendor`).
   */
  readonly brokerPath?: string;
}

/** Status of the loaded policy set. */
export interface PolicyStatus {
  /** The version in force (16 hex characters; in every decision). */
  readonly version: string;
  /** When the version in force was loaded. */
  readonly loadedAt: Date;
  readonly policyCount: number;
  readonly entityCount: number;
  /**
   * The diagnostics of the last refused reload (one line per problem: `file:line [policy @id]
   * message — help: …`). Kept after a later successful reload, marked by
   * {@link PolicyStatus.lastErrorSuperseded}.
   */
  readonly lastError?: string;
  /** When the last reload was refused. */
  readonly lastErrorAt?: Date;
  /** The version (16 hex) of the refused files, when they could be read. */
  readonly refusedVersion?: string;
  /**
   * With a `lastError`: true once a later reload loaded a version (or found the files back at the
   * version in force) — the refusal is history, not the current state.
   */
  readonly lastErrorSuperseded?: boolean;
  /** The version that superseded the last refusal. */
  readonly lastErrorSupersededBy?: string;
  /** When the last refusal was superseded. */
  readonly lastErrorSupersededAt?: Date;
  /** True when the most recent reload attempt was refused (the files on disk are not in force). */
  readonly refusing?: boolean;
  /** Why the version in force was loaded: `"start"`, `"watch"`, `"SIGHUP"`, … (policy manager only). */
  readonly loadReason?: string;
  /** Successful reloads (version changes) since start (policy manager only). */
  readonly reloads?: number;
  /** Refused reloads since start (policy manager only). */
  readonly refusals?: number;
}

/** A policy engine's preparsed parts, opaque outside the engine that made them ({@link PolicyEngine.parts}). */
export interface EngineParts {
  /** The version they belong to. */
  readonly version: string;
}

/** Evaluates decisions against the current policy set. Synchronous: cedar-wasm is. */
export interface PolicyEngine {
  /** The current policy version (hash of all files). */
  readonly version: string;
  /** Never throws: a failure is a `deny` with outcome `error`. */
  evaluate(input: DecisionInput): PolicyDecision;
  /**
   * What this input's evaluation depends on in this version: the text and annotations of the
   * policies that can apply to it (its partition) and everything else the evaluation reads
   * (schema, entities, tool definitions). Two engines that give the same key for an input give
   * the same decision, reasons and errors for it — so a shadow or replay evaluation can be
   * skipped. Undefined when it cannot be told (then evaluate).
   */
  evaluationKey?(input: DecisionInput): string | undefined;
  /**
   * This version's preparsed parts, opaque: what another engine's {@link PolicyEngine.evaluateBeside}
   * needs to evaluate this version in the same Cedar call. Wrappers pass it on unchanged.
   */
  readonly parts?: EngineParts;
  /**
   * Evaluates this version and another (given by its {@link PolicyEngine.parts}) on one input in
   * ONE Cedar call — the request is converted into Cedar once — and returns both decisions, each
   * with the same decision, outcome, reasons and errors that its own `evaluate` gives (errors in
   * the order of its policies). Undefined when the two cannot share a call (they differ in schema,
   * entities, tool definitions or entity types sent, or this version can no longer evaluate):
   * then evaluate each.
   */
  evaluateBeside?(other: EngineParts, input: DecisionInput): readonly [PolicyDecision, PolicyDecision] | undefined;
  /**
   * False once this version can no longer evaluate (its preparsed set was replaced by later
   * reloads): a decision that took it as its snapshot must decide again under the version in force.
   */
  live(): boolean;
  /** Static facts about a tool, or undefined when the entities do not list it. */
  tool(serverId: string, name: string): ToolInfo | undefined;
  /** The tool's declared definition (`definitions/*.json`), compiled, or undefined. */
  definition(serverId: string, name: string): KnownTool | undefined;
  status(): PolicyStatus;
}
