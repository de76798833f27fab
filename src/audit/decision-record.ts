import type { ReplayFacts } from "../policy/replay-facts.js";

/** What the shadow policy set (`policies.shadowDir`) would have answered, when it disagreed with the live one. */
export interface ShadowVerdict {
  readonly decision: "ALLOW" | "DENY";
  readonly reasonCode: string;
  /** Its determining policies' `@id`s. */
  readonly policies: readonly string[];
  /** The shadow set's version. */
  readonly version: string;
}

/** One record per decision: who asked, for whom, what, and what the PDP answered. Never a token. */
export interface DecisionRecord {
  /** ISO-8601 time of the decision. */
  readonly time: string;
  readonly decisionId: string;
  /** The PDP instance (host:pid) that decided. */
  readonly instance: string;
  /** Which RPC decided: `authorize`, `filter_tools`, … */
  readonly kind: string;
  readonly sessionId?: string;
  readonly userIssuer?: string;
  readonly userSubject?: string;
  readonly agentId?: string;
  readonly clientId?: string;
  readonly serverId?: string;
  /** The identity provider (issuer) of the user token. */
  readonly idp?: string;
  readonly caller?: string;
  readonly action?: string;
  readonly tool?: string;
  readonly resourceUri?: string;
  readonly purpose?: string;
  /** SHA-256 of the canonical JSON of the arguments; the arguments themselves are not kept. */
  readonly argumentsDigest?: string;
  /**
   * The values of the arguments the tool's declared definition lets records keep
   * (`recordedArguments`, e.g. an amount); no other argument value is ever recorded.
   */
  readonly recordedArguments?: Readonly<Record<string, string | number | boolean>>;
  /** SHA-256 (RFC 8785) of the called tool's definition as the PDP knew it, when one was known. */
  readonly toolDefinitionDigest?: string;
  /** The approval this decision requested, used or decided (high-impact calls). */
  readonly approvalId?: string;
  /** Set when the user's and the agent's claims were asserted by this caller (AuthZEN `http.claimAsserters`) rather than verified from tokens. */
  readonly claimsAssertedBy?: string;
  /**
   * Third-party trust expansion: the relations this decision's request established that the PDP
   * had not seen within its look-back window (`client_for_user`, `agent_at_server`,
   * `client_at_server`, `idp_for_server`, `new_scopes`, `broker_path`; docs/trust-expansion.md).
   */
  readonly firstSeen?: readonly string[];
  /** With `new_scopes`: the scopes first seen for this user and client. */
  readonly firstSeenScopes?: readonly string[];
  /** With `broker_path`: the brokered paths (`<server> -> <vendor>`) first seen for this agent. */
  readonly firstSeenPaths?: readonly string[];
  readonly decision: "ALLOW" | "DENY";
  readonly reasonCode: string;
  readonly reasons: readonly { readonly policyId: string; readonly reason: string }[];
  readonly policyVersion: string;
  readonly latencyUs: number;
  /**
   * The facts policy evaluated (the decision input; argument values only as `recordedArguments`
   * allows), so that the decision can be evaluated again under another version. Absent when
   * policy was not reached, on records made before they were kept, and when over the bound
   * (then `truncated.replay` gives their size).
   */
  readonly replay?: ReplayFacts;
  /** Set when the shadow policy set disagreed with the live answer (which it never changes). */
  readonly shadow?: ShadowVerdict;
  /** Short explanation of a failure (never contains a token). */
  readonly message?: string;
  /** Fields cut to the record's bound, with their original length in characters. */
  readonly truncated?: Readonly<Record<string, number>>;
  /**
   * Position in the sink's hash chain (1, 2, 3, … per chain), assigned by the sink that stores the
   * record, never by the decision pipeline.
   */
  readonly sequence?: number;
  /** The chain's previous record's `hash` (`""` for the first record of a chain). */
  readonly prevHash?: string;
  /** SHA-256 (hex) of the canonical serialisation of this record, `prevHash` included, `hash` excluded. */
  readonly hash?: string;
  /** Which chain the record belongs to (the Redis stream name, or `<instance>@<start time>` for a process-local chain). */
  readonly chain?: string;
}

/** A record as a chaining sink stored it: with its place in the chain. */
export type ChainedRecord = DecisionRecord & {
  readonly sequence: number;
  readonly prevHash: string;
  readonly hash: string;
  readonly chain: string;
};
