/**
 * `mcp-pdp policy replay`'s core: each recorded decision evaluated again under a candidate policy
 * set and, as a control, under the version it was made with. A control that does not reproduce
 * the record (decision, reason code, determining policies) is reported as drift — engine or data
 * — never hidden; a candidate that answers differently is a flip (ALLOW→DENY, DENY→ALLOW) or a
 * changed reason, grouped by the policies that decided it under the candidate.
 */
import type { DecisionRecord } from "../audit/decision-record.js";
import { inputOfFacts, unreplayable } from "../policy/replay-facts.js";
import type { DecisionInput, PolicyEngine } from "../policy/types.js";
import { evaluatedTogether } from "./evaluated-together.js";
import { POLICY_REASON_CODES, replayOutcome, sameEvaluation, sameOutcome, type ReplayResult } from "./replay-outcome.js";

/** The engines a replay evaluates under. */
export interface ReplayEngines {
  readonly candidate: PolicyEngine;
  /** The engine of a recorded version, or undefined when its texts are not available (control skipped). */
  control(version: string): PolicyEngine | undefined;
}

/** A group of flips: same direction, same answer under the candidate. */
export interface FlipGroup {
  readonly from: "ALLOW" | "DENY";
  readonly to: "ALLOW" | "DENY";
  /** The candidate's reason code. */
  readonly reasonCode: string;
  /** The candidate's determining policies (empty: no policy permits). */
  readonly policies: readonly string[];
  readonly count: number;
  /** Some of the decision ids (up to the sample bound). */
  readonly samples: readonly string[];
}

/** A record whose control replay did not reproduce it. */
export interface Drift {
  readonly decisionId: string;
  readonly version: string;
  readonly recorded: string;
  readonly replayed: string;
}

/** What a replay found. */
export interface ReplayReport {
  readonly candidateVersion: string;
  /** Records read (after filters). */
  readonly read: number;
  /** Records policy did not decide (refused before policy, operations that policy does not judge): nothing to replay. */
  readonly notPolicy: number;
  /** Policy decisions that cannot be evaluated again, by why. */
  readonly notReplayable: Readonly<Record<string, number>>;
  /** Policy decisions evaluated under the candidate. */
  readonly replayed: number;
  /**
   * Policy decisions not evaluated: the candidate cannot answer them differently from their own
   * version (same evaluation key), and they fell outside the control sample (`controlSample` < 1).
   */
  readonly unchanged: number;
  readonly flips: { readonly allowToDeny: number; readonly denyToAllow: number; readonly groups: readonly FlipGroup[] };
  /** Same decision under the candidate, another reason code or other determining policies. */
  readonly reasonChanged: number;
  readonly control: {
    /** Records evaluated again under their own version. */
    readonly checked: number;
    readonly reproduced: number;
    /** Records whose version's texts were not available (control skipped). */
    readonly unavailable: number;
    readonly unavailableVersions: readonly string[];
    readonly drift: number;
    readonly driftSamples: readonly Drift[];
  };
}

const describe = (allow: boolean, reasonCode: string, policies: readonly string[]) =>
  `${allow ? "ALLOW" : "DENY"} ${reasonCode}${policies.length ? ` [${policies.join(", ")}]` : ""}`;

/** Accumulates a replay record by record (memory bounded by the number of groups and samples). */
export class ReplayTally {
  readonly #engines: ReplayEngines;
  readonly #samples: number;
  readonly #controlSample: number;
  #read = 0;
  #notPolicy = 0;
  #replayed = 0;
  #unchanged = 0;
  #reasonChanged = 0;
  #allowToDeny = 0;
  #denyToAllow = 0;
  readonly #notReplayable = new Map<string, number>();
  readonly #groups = new Map<string, { from: "ALLOW" | "DENY"; to: "ALLOW" | "DENY"; reasonCode: string; policies: string[]; count: number; samples: string[] }>();
  readonly #control = { checked: 0, reproduced: 0, unavailable: 0, drift: 0 };
  readonly #unavailable = new Set<string>();
  readonly #drift: Drift[] = [];
  readonly #pairs = new Map<string, readonly [PolicyEngine, PolicyEngine]>();

  /**
   * `samples`: decision ids kept per group and drift samples in all (default 5). `controlSample`
   * (0…1, default 1): the share of records the candidate cannot change (same evaluation key as
   * their own version) that are still evaluated, as the control; the others cannot flip unless
   * records or engine drifted, and are counted as `unchanged`. Which records: by decision id
   * (the same ones on every run).
   */
  constructor(engines: ReplayEngines, options: { readonly samples?: number; readonly controlSample?: number } = {}) {
    this.#engines = engines;
    this.#samples = options.samples ?? 5;
    this.#controlSample = options.controlSample ?? 1;
  }

  /** Flips so far (both directions). */
  get flips(): number {
    return this.#allowToDeny + this.#denyToAllow;
  }

  /** Records taken so far. */
  get read(): number {
    return this.#read;
  }

  /** Replays one record. */
  add(record: DecisionRecord): void {
    this.#read++;
    // Policy decisions only; one without facts (an older record) is reported not replayable.
    if (record.kind !== "authorize" || !POLICY_REASON_CODES.has(record.reasonCode)) {
      this.#notPolicy++;
      return;
    }
    const recorded = { allow: record.decision === "ALLOW", reasonCode: record.reasonCode, policies: (record.reasons ?? []).map((r) => r.policyId) };
    const why = unreplayable(record.replay);
    if (why !== undefined) return this.#skip(why);
    const facts = record.replay!;
    const input = inputOfFacts(facts);
    const own = this.#engines.control(record.policyVersion);
    const same = own !== undefined && sameEvaluation(own, this.#engines.candidate, input);
    if (same && this.#controlSample < 1 && !inSample(record.decisionId, this.#controlSample)) {
      this.#unchanged++;
      return;
    }
    // Where the two can differ, both are evaluated in one Cedar call when the engines can.
    const [candidateEngine, control] = own && !same ? this.#together(record.policyVersion, own) : [this.#engines.candidate, own];
    const candidate = replayOutcome(candidateEngine, facts, input);
    if (!("outcome" in candidate)) return this.#skip(candidate.unreplayable);
    this.#replayed++;
    this.#checkControl(record, recorded, candidate, control, same ? undefined : input);
    const c = candidate.outcome;
    const now = { allow: c.allow, reasonCode: c.reasonCode, policies: c.reasons.map((r) => r.policyId) };
    if (sameOutcome(recorded, now)) return;
    if (c.allow === recorded.allow) {
      this.#reasonChanged++;
      return;
    }
    if (recorded.allow) this.#allowToDeny++;
    else this.#denyToAllow++;
    const from = recorded.allow ? "ALLOW" : "DENY";
    const to = c.allow ? "ALLOW" : "DENY";
    const policies = [...now.policies].sort();
    const key = `${from}>${to}|${now.reasonCode}|${policies.join(",")}`;
    let g = this.#groups.get(key);
    if (!g) this.#groups.set(key, (g = { from, to, reasonCode: now.reasonCode, policies, count: 0, samples: [] }));
    g.count++;
    if (g.samples.length < this.#samples) g.samples.push(record.decisionId);
  }

  #skip(why: string): void {
    this.#notReplayable.set(why, (this.#notReplayable.get(why) ?? 0) + 1);
  }

  /** The candidate and a recorded version, evaluated together (one pair per version). */
  #together(version: string, own: PolicyEngine): readonly [PolicyEngine, PolicyEngine] {
    let pair = this.#pairs.get(version);
    if (!pair) this.#pairs.set(version, (pair = evaluatedTogether(this.#engines.candidate, own)));
    return pair;
  }

  /** `input`: the facts' input, or undefined when the control's answer is the candidate's (same evaluation key). */
  #checkControl(record: DecisionRecord, recorded: { allow: boolean; reasonCode: string; policies: string[] }, candidate: ReplayResult, engine: PolicyEngine | undefined, input: DecisionInput | undefined): void {
    if (!engine) {
      this.#control.unavailable++;
      this.#unavailable.add(record.policyVersion);
      return;
    }
    this.#control.checked++;
    const again = input === undefined ? candidate : replayOutcome(engine, record.replay, input);
    const o = "outcome" in again ? again.outcome : undefined;
    const replayed = o && { allow: o.allow, reasonCode: o.reasonCode, policies: o.reasons.map((r) => r.policyId) };
    if (replayed && sameOutcome(recorded, replayed)) {
      this.#control.reproduced++;
      return;
    }
    this.#control.drift++;
    if (this.#drift.length < this.#samples)
      this.#drift.push({
        decisionId: record.decisionId,
        version: record.policyVersion,
        recorded: describe(recorded.allow, recorded.reasonCode, recorded.policies),
        replayed: replayed ? describe(replayed.allow, replayed.reasonCode, replayed.policies) : `not replayable: ${(again as { unreplayable: string }).unreplayable}`,
      });
  }

  /** The report so far (groups largest first). */
  report(): ReplayReport {
    const groups = [...this.#groups.values()]
      .sort((a, b) => b.count - a.count || (a.from < b.from ? -1 : 1))
      .map((g) => ({ ...g, policies: [...g.policies], samples: [...g.samples] }));
    return {
      candidateVersion: this.#engines.candidate.version,
      read: this.#read,
      notPolicy: this.#notPolicy,
      notReplayable: Object.fromEntries(this.#notReplayable),
      replayed: this.#replayed,
      unchanged: this.#unchanged,
      flips: { allowToDeny: this.#allowToDeny, denyToAllow: this.#denyToAllow, groups },
      reasonChanged: this.#reasonChanged,
      control: { ...this.#control, unavailableVersions: [...this.#unavailable].sort(), driftSamples: [...this.#drift] },
    };
  }
}

/** True for a stable `share` of decision ids (FNV-1a of the id). */
function inSample(decisionId: string, share: number): boolean {
  let h = 0x811c9dc5;
  for (let i = 0; i < decisionId.length; i++) h = Math.imul(h ^ decisionId.charCodeAt(i), 0x01000193);
  return (h >>> 0) / 0x100000000 < share;
}

/** One report from the reports of parts of the same records (worker threads): counts summed, groups merged, samples bounded. */
export function mergeReports(reports: readonly ReplayReport[], samples = 5): ReplayReport {
  const first = reports[0];
  if (!first) throw new Error("mergeReports: no reports");
  const notReplayable: Record<string, number> = {};
  const groups = new Map<string, { from: "ALLOW" | "DENY"; to: "ALLOW" | "DENY"; reasonCode: string; policies: string[]; count: number; samples: string[] }>();
  const unavailable = new Set<string>();
  const drift: Drift[] = [];
  const sum = (f: (r: ReplayReport) => number) => reports.reduce((n, r) => n + f(r), 0);
  for (const r of reports) {
    for (const [why, n] of Object.entries(r.notReplayable)) notReplayable[why] = (notReplayable[why] ?? 0) + n;
    for (const g of r.flips.groups) {
      const key = `${g.from}>${g.to}|${g.reasonCode}|${g.policies.join(",")}`;
      const m = groups.get(key);
      if (!m) groups.set(key, { ...g, policies: [...g.policies], samples: g.samples.slice(0, samples) });
      else {
        m.count += g.count;
        for (const s of g.samples) if (m.samples.length < samples) m.samples.push(s);
      }
    }
    for (const v of r.control.unavailableVersions) unavailable.add(v);
    for (const d of r.control.driftSamples) if (drift.length < samples) drift.push(d);
  }
  return {
    candidateVersion: first.candidateVersion,
    read: sum((r) => r.read),
    notPolicy: sum((r) => r.notPolicy),
    notReplayable,
    replayed: sum((r) => r.replayed),
    unchanged: sum((r) => r.unchanged),
    flips: {
      allowToDeny: sum((r) => r.flips.allowToDeny),
      denyToAllow: sum((r) => r.flips.denyToAllow),
      groups: [...groups.values()].sort((a, b) => b.count - a.count || (a.from < b.from ? -1 : 1)),
    },
    reasonChanged: sum((r) => r.reasonChanged),
    control: {
      checked: sum((r) => r.control.checked),
      reproduced: sum((r) => r.control.reproduced),
      unavailable: sum((r) => r.control.unavailable),
      unavailableVersions: [...unavailable].sort(),
      drift: sum((r) => r.control.drift),
      driftSamples: drift,
    },
  };
}
