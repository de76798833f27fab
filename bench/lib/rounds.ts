/**
 * Interleaved rounds: several servers ("lanes") measured in one run, alternating, so that the
 * load other processes put on the shared cores falls on every lane alike. Each round drives every
 * lane once at each concurrency level, in an order that rotates and reverses from round to round;
 * latencies are merged over the rounds, CPU and decisions summed.
 */
import { drive, type Target } from "./driver.js";
import { cpuSeconds, processTree } from "./processes.js";
import { Samples, type LatencySummary } from "./stats.js";

/** One server under test. */
export interface Lane {
  readonly name: string;
  readonly target: Target;
  /** The server's root pid (its CPU and its children's is the server's). */
  readonly pid: number;
}

/** A lane at one level, over all rounds. */
export interface LaneResult {
  readonly lane: string;
  readonly inFlight: number;
  readonly rounds: number;
  readonly authorize: LatencySummary;
  readonly openSession: LatencySummary;
  /** Measured Authorize calls per second (all rounds). */
  readonly decisionsPerSecond: number;
  /** Server CPU (user + system, all its processes) per decision (Authorize and OpenSession), µs. */
  readonly cpuUsPerDecision: number;
  /** Per round: decisions/s, CPU µs per decision, Authorize p50 ms (to show the spread). */
  readonly perRound: readonly { readonly decisionsPerSecond: number; readonly cpuUsPerDecision: number; readonly p50: number }[];
  /** Answers other than ALLOW, by reason, and transport errors. */
  readonly unexpected: Record<string, number>;
}

/** Options for {@link runRounds}. */
export interface RoundsOptions {
  readonly lanes: readonly Lane[];
  readonly levels: readonly number[];
  readonly rounds: number;
  readonly warmupMs: number;
  readonly durationMs: number;
  readonly progress: (msg: string) => void;
}

/** Runs the rounds; one result per lane and level. */
export async function runRounds(o: RoundsOptions): Promise<LaneResult[]> {
  type Acc = {
    authorize: Samples;
    openSession: Samples;
    measured: number;
    seconds: number;
    cpu: number;
    decisions: number;
    perRound: LaneResult["perRound"][number][];
    unexpected: Record<string, number>;
  };
  const acc = new Map<string, Acc>();
  const key = (lane: string, level: number) => `${lane}\u0000${level}`;
  for (const l of o.lanes)
    for (const level of o.levels)
      acc.set(key(l.name, level), { authorize: new Samples(), openSession: new Samples(), measured: 0, seconds: 0, cpu: 0, decisions: 0, perRound: [], unexpected: {} });

  for (let round = 0; round < o.rounds; round++) {
    const rotated = o.lanes.map((_, i) => o.lanes[(i + round) % o.lanes.length]!);
    const order = round % 2 === 1 ? rotated.reverse() : rotated;
    for (const level of o.levels) {
      for (const lane of order) {
        const a = acc.get(key(lane.name, level))!;
        const pids = processTree(lane.pid);
        const cpu0 = cpuSeconds(pids);
        const r = await drive({ target: lane.target, lanes: level, warmupMs: o.warmupMs, durationMs: o.durationMs, into: a });
        const cpu = cpuSeconds(processTree(lane.pid)) - cpu0;
        const decisions = r.totalAuthorize + r.totalOpen;
        a.measured += r.decisionsPerSecond * r.seconds;
        a.seconds += r.seconds;
        a.cpu += cpu;
        a.decisions += decisions;
        a.perRound.push({ decisionsPerSecond: r.decisionsPerSecond, cpuUsPerDecision: (cpu * 1e6) / decisions, p50: r.authorize.p50 });
        for (const [k, v] of Object.entries(r.unexpected)) a.unexpected[k] = (a.unexpected[k] ?? 0) + v;
        o.progress(
          `round ${round + 1}/${o.rounds} ${lane.name} ×${level}: p50 ${r.authorize.p50.toFixed(3)} ms, ${r.decisionsPerSecond.toFixed(0)}/s, ` +
            `CPU ${((cpu * 1e6) / decisions).toFixed(0)} µs/decision${Object.keys(r.unexpected).length ? ` unexpected ${JSON.stringify(r.unexpected)}` : ""}`,
        );
      }
    }
  }
  return o.lanes.flatMap((l) =>
    o.levels.map((level) => {
      const a = acc.get(key(l.name, level))!;
      return {
        lane: l.name,
        inFlight: level,
        rounds: o.rounds,
        authorize: a.authorize.summary(),
        openSession: a.openSession.summary(),
        decisionsPerSecond: a.measured / a.seconds,
        cpuUsPerDecision: (a.cpu * 1e6) / a.decisions,
        perRound: a.perRound,
        unexpected: a.unexpected,
      };
    }),
  );
}

/** Prints a table (first column left-aligned). */
export function table(head: readonly string[], rows: readonly (readonly string[])[]): void {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? "").length)));
  const line = (cells: readonly string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join("  ");
  console.log(line(head));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  rows.forEach((r) => console.log(line(r)));
}

/** `min–max` of per-round values. */
export function spread(xs: readonly number[], digits = 0): string {
  if (!xs.length) return "-";
  return `${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)}`;
}
