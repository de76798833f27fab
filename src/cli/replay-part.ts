/**
 * One share of a `policy replay`: its own engines (candidate, baselines, archived versions — each
 * preparsed in this thread), the records it is given (raw JSON lines), and its tally. Runs in the
 * CLI's thread or in a worker thread (replay-worker.ts); the CLI merges the parts' reports.
 */
import "../policy/v8-guard.js";
import type { ChainedRecord, DecisionRecord } from "../audit/decision-record.js";
import { matchesFilter } from "../audit/query-filter.js";
import type { AuditFilter } from "../audit/types.js";
import { ReplayTally, type ReplayReport } from "../decision/replay-tally.js";
import { replayVersionOfDir, replayVersionOfFiles } from "../policy/replay-engine.js";
import type { PolicyEngine } from "../policy/types.js";
import { PdpError } from "../errors.js";

/** What a part is built from (plain data: it crosses to worker threads). */
export interface ReplayPartInit {
  readonly candidate: string;
  readonly baselines: readonly string[];
  readonly filter: AuditFilter;
  /** Record time bounds (ms), applied here when the source could not (NDJSON). */
  readonly since?: number;
  readonly until?: number;
  readonly samples?: number;
  readonly controlSample?: number;
}

/** A share of a replay. */
export class ReplayPart {
  readonly #versions = new Map<string, PolicyEngine | undefined>();
  readonly #tally: ReplayTally;
  readonly #init: ReplayPartInit;

  /** Throws PdpError POLICY_INVALID naming the directory (`candidate DIR is refused: …`) when the candidate or a baseline does not load. */
  constructor(init: ReplayPartInit) {
    this.#init = init;
    const load = (what: string, dir: string) => {
      try {
        return replayVersionOfDir(dir);
      } catch (err) {
        throw new PdpError("POLICY_INVALID", `${what} ${dir} is refused:\n${PdpError.from(err, "POLICY_INVALID").message}`);
      }
    };
    const candidate = load("candidate", init.candidate);
    this.#versions.set(candidate.loaded.version, candidate.engine);
    for (const dir of init.baselines) {
      const b = load("baseline", dir);
      this.#versions.set(b.loaded.version, b.engine);
    }
    this.#tally = new ReplayTally(
      { candidate: candidate.engine, control: (v) => this.#versions.get(v) },
      { ...(init.samples !== undefined && { samples: init.samples }), ...(init.controlSample !== undefined && { controlSample: init.controlSample }) },
    );
  }

  /** True when the part already knows `version` (in force or known to be unavailable). */
  knows(version: string): boolean {
    return this.#versions.has(version);
  }

  /**
   * An archived version's files (undefined: not available; the part gives its records no control).
   * Returns why the files do not load, when they do not (their records get no control either).
   */
  version(version: string, files: readonly { readonly path: string; readonly text: string }[] | undefined): string | undefined {
    if (this.#versions.has(version)) return undefined;
    let engine: PolicyEngine | undefined;
    let refused: string | undefined;
    if (files) {
      try {
        engine = replayVersionOfFiles(version, files).engine;
      } catch (err) {
        refused = PdpError.from(err).message;
      }
    }
    this.#versions.set(version, engine);
    return refused;
  }

  /** Replays records given as JSON lines. */
  batch(lines: readonly string[]): void {
    const { since, until, filter } = this.#init;
    for (const line of lines) {
      const r = JSON.parse(line) as DecisionRecord;
      if (since !== undefined || until !== undefined) {
        const t = Date.parse(r.time);
        if ((since !== undefined && t < since) || (until !== undefined && t > until)) continue;
      }
      if (!matchesFilter(r as ChainedRecord, filter)) continue;
      if (!this.#versions.has(r.policyVersion)) this.#versions.set(r.policyVersion, undefined);
      this.#tally.add(r);
    }
  }

  /** Records taken and flips so far (progress). */
  progress(): { read: number; flips: number } {
    return { read: this.#tally.read, flips: this.#tally.flips };
  }

  report(): ReplayReport {
    return this.#tally.report();
  }
}
