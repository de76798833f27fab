/**
 * The operator's view of third-party trust expansion (docs/trust-expansion.md): from decision
 * records, per user, per agent and per server, the clients, servers, IdPs, scopes and brokered
 * paths in use in the window, and which of them were added in it — first seen by the PDP — when,
 * and by which decision. Built record by record (any order; memory grows with distinct relations,
 * never with records), biggest expansions first.
 */
import type { DecisionRecord } from "./decision-record.js";

/** Who a report row is about. */
export type TrustSubjectKind = "user" | "agent" | "server";

/** A relation a subject holds. */
export type TrustRelation = "clients" | "servers" | "idps" | "scopes" | "paths" | "agents";

/** One relation first seen in the window. */
export interface TrustAddition {
  readonly relation: TrustRelation;
  readonly value: string;
  /** The first-seen kind that flagged it (`client_for_user`, …). */
  readonly kind: string;
  /** When, and by which decision (the earliest one that carries it). */
  readonly at: string;
  readonly decisionId: string;
}

/** One subject's relations: in use in the window (`now`), at its start (`now` minus added), and what was added. */
export interface TrustSubjectReport {
  readonly kind: TrustSubjectKind;
  /** User: `<issuer>#<subject>`; agent: its workload id; server: its URI. */
  readonly id: string;
  readonly now: Readonly<Partial<Record<TrustRelation, readonly string[]>>>;
  readonly start: Readonly<Partial<Record<TrustRelation, readonly string[]>>>;
  /** Oldest first. */
  readonly added: readonly TrustAddition[];
}

/** The report. */
export interface TrustReport {
  /** Records read (after the time and subject filters). */
  readonly records: number;
  readonly since?: string;
  /** Subjects with the most additions first; then by kind and id. Subjects without additions are kept. */
  readonly subjects: readonly TrustSubjectReport[];
}

/** Filters of a report. */
export interface TrustReportOptions {
  /** Only records at or after this time. */
  readonly since?: Date;
  /** Only these users (subject, or `<issuer>#<subject>`) — and then no agent or server rows. */
  readonly user?: string;
  /** Only this agent — and then no user or server rows. */
  readonly agent?: string;
}

/** Which relations each subject kind shows, and the first-seen kind whose flag adds to each. */
const RELATIONS: Record<TrustSubjectKind, Partial<Record<TrustRelation, string | null>>> = {
  user: { clients: "client_for_user", servers: null, idps: null, scopes: "new_scopes" },
  agent: { servers: "agent_at_server", clients: null, idps: null, paths: "broker_path" },
  server: { clients: "client_at_server", idps: "idp_for_server", agents: "agent_at_server" },
};

interface Row {
  readonly kind: TrustSubjectKind;
  readonly id: string;
  readonly now: Map<TrustRelation, Set<string>>;
  readonly added: Map<string, TrustAddition>;
}

/** Accumulates records into a {@link TrustReport}. */
export class TrustReportBuilder {
  readonly #rows = new Map<string, Row>();
  readonly #options: TrustReportOptions;
  readonly #since: string | undefined;
  #records = 0;

  constructor(options: TrustReportOptions = {}) {
    this.#options = options;
    this.#since = options.since?.toISOString();
  }

  /** Records read so far (after the filters). */
  get records(): number {
    return this.#records;
  }

  /** Adds one record. */
  add(r: DecisionRecord): void {
    if (this.#since !== undefined && r.time < this.#since) return;
    const o = this.#options;
    const user = r.userSubject !== undefined ? `${r.userIssuer ?? ""}#${r.userSubject}` : undefined;
    if (o.user !== undefined && r.userSubject !== o.user && user !== o.user) return;
    if (o.agent !== undefined && r.agentId !== o.agent) return;
    this.#records++;
    // Only decisions that let the relation be used (and every first sighting, which only an allowed opening makes).
    const inUse = r.decision === "ALLOW";
    const flagged = new Set(r.firstSeen ?? []);
    const values: Partial<Record<TrustRelation, readonly string[]>> = {
      clients: r.clientId !== undefined ? [r.clientId] : [],
      servers: r.serverId !== undefined ? [r.serverId] : [],
      idps: r.idp !== undefined ? [r.idp] : [],
      agents: r.agentId !== undefined ? [r.agentId] : [],
      scopes: r.firstSeenScopes ?? [],
      paths: r.firstSeenPaths ?? [],
    };
    const subjects: [TrustSubjectKind, string | undefined][] = [
      ["user", user],
      ["agent", o.user === undefined ? r.agentId : undefined],
      ["server", o.user === undefined && o.agent === undefined ? r.serverId : undefined],
    ];
    if (o.agent !== undefined) subjects[0] = ["user", undefined];
    for (const [kind, id] of subjects) {
      if (id === undefined) continue;
      for (const [relation, flag] of Object.entries(RELATIONS[kind]) as [TrustRelation, string | null][]) {
        const vs = values[relation] ?? [];
        if (vs.length === 0) continue;
        const isNew = flag !== null && flagged.has(flag);
        if (!inUse && !isNew) continue;
        const row = this.#row(kind, id);
        let set = row.now.get(relation);
        if (!set) row.now.set(relation, (set = new Set()));
        for (const v of vs) {
          set.add(v);
          if (!isNew) continue;
          const key = `${relation}\u0000${v}`;
          const prev = row.added.get(key);
          if (!prev || r.time < prev.at || (r.time === prev.at && r.decisionId < prev.decisionId))
            row.added.set(key, { relation, value: v, kind: flag!, at: r.time, decisionId: r.decisionId });
        }
      }
    }
  }

  #row(kind: TrustSubjectKind, id: string): Row {
    const k = `${kind}\u0000${id}`;
    let row = this.#rows.get(k);
    if (!row) this.#rows.set(k, (row = { kind, id, now: new Map(), added: new Map() }));
    return row;
  }

  /** The report as it stands. */
  report(): TrustReport {
    const subjects = [...this.#rows.values()].map((row): TrustSubjectReport => {
      const added = [...row.added.values()].sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : a.decisionId < b.decisionId ? -1 : 1));
      const now: Partial<Record<TrustRelation, string[]>> = {};
      const start: Partial<Record<TrustRelation, string[]>> = {};
      for (const [relation, set] of row.now) {
        now[relation] = [...set].sort();
        const gained = new Set(added.filter((a) => a.relation === relation).map((a) => a.value));
        start[relation] = now[relation]!.filter((v) => !gained.has(v));
      }
      return { kind: row.kind, id: row.id, now, start, added };
    });
    const order: Record<TrustSubjectKind, number> = { user: 0, agent: 1, server: 2 };
    subjects.sort((a, b) => b.added.length - a.added.length || order[a.kind] - order[b.kind] || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
    return { records: this.#records, ...(this.#since !== undefined && { since: this.#since }), subjects };
  }
}
