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
  readonly decision: "ALLOW" | "DENY";
  readonly reasonCode: string;
  readonly reasons: readonly { readonly policyId: string; readonly reason: string }[];
  readonly policyVersion: string;
  readonly latencyUs: number;
  /** Short explanation of a failure (never contains a token). */
  readonly message?: string;
}
