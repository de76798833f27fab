/**
 * Third-party trust expansion: the relations a deployment has seen within a look-back window, so
 * that a decision can tell the first time this client acts for this user, this agent reaches this
 * server, a token carries a scope this user and client never had, … (docs/trust-expansion.md).
 * Two implementations (memory, Redis) share one contract suite (test/session/novelty-contract.ts).
 */

/** The kinds of relation whose first sighting is a fact for policy, the record and metrics. */
export const NOVELTY_KINDS = ["client_for_user", "agent_at_server", "client_at_server", "idp_for_server", "new_scopes", "broker_path"] as const;

/**
 * (a) this client acting for this user, (b) this agent at this server, (c) this client at this
 * server, (d) this IdP for this server, (e) a scope on this user's token not seen for this user and
 * client, (f) a brokered path (broker server → upstream vendor) for this agent.
 */
export type NoveltyKind = (typeof NOVELTY_KINDS)[number];

/** One relation seen by a decision: its kind and the values that name it (e.g. client id, user ref). */
export interface Sighting {
  readonly kind: NoveltyKind;
  readonly key: readonly string[];
}

/** What {@link NoveltyStore.observe} found. */
export interface ObserveResult {
  /** For each sighting, in order: true when the relation was not seen within the window. */
  readonly fresh: readonly boolean[];
  /** Relations evicted by this call because the store was full (oldest last sighting first). */
  readonly evicted: number;
}

/**
 * The relations seen within the window, shared by every replica. Bounded: past `maxEntries` the
 * relations seen longest ago are evicted and counted; a relation not seen for the window expires.
 * Deadline-bounded; STORE_UNAVAILABLE on failure.
 */
export interface NoveltyStore {
  /** Checks and marks these sightings in one atomic step (one round trip): seen now. */
  observe(sightings: readonly Sighting[]): Promise<ObserveResult>;
  /** Relations evicted for room since the store began (Redis: by every replica). */
  dropped(): Promise<number>;
  /** Releases what the store owns (never a client it was given). */
  close(): Promise<void>;
}

/** Options of both implementations. */
export interface NoveltyStoreOptions {
  /** The look-back window in ms: a relation not seen for this long is new again. */
  readonly windowMs: number;
  /** Most relations kept; past it the ones seen longest ago are evicted (and counted). */
  readonly maxEntries: number;
  /**
   * How long after its first sighting a relation still counts as new, in ms (every opening within
   * it gets the fact). Default 0: new on the first sighting only.
   */
  readonly probationMs?: number;
  /** Clock in ms. Default `Date.now`. */
  readonly now?: () => number;
}

/** The first-seen facts a session carries from its opening (see decision/novelty.ts). */
export interface SessionNovelty {
  /** Kinds first seen when the session opened (sorted, each once). */
  readonly firstSeen: readonly NoveltyKind[];
  /** Scopes of the opening user token not seen before for this user and client. */
  readonly newScopes: readonly string[];
  /** Brokered paths (`<server> -> <vendor>`) first seen for this agent when the session opened. */
  readonly newPaths: readonly string[];
  /** Every scope of the opening user token: a later token with more is new scopes too. */
  readonly openScopes: readonly string[];
}
