import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import type { DecisionRecord } from "../audit/decision-record.js";
import { TrustReportBuilder, type TrustReport, type TrustSubjectReport } from "../audit/trust-report.js";
import { forEachAuditRecord, parseTime } from "./audit.js";
import { CliFailure, type CliIo } from "./cli-io.js";

/** Options of `mcp-pdp trust report`. */
export interface TrustOptions {
  /** Window start: `30d`, `12h`, or ISO-8601. Default 30d. */
  readonly since?: string | undefined;
  readonly user?: string | undefined;
  readonly agent?: string | undefined;
  /** An NDJSON export (`audit export`, `-` for stdin) instead of asking the PDP. */
  readonly file?: string | undefined;
  readonly json?: boolean | undefined;
  readonly address?: string | undefined;
  readonly token?: string | undefined;
  readonly ca?: string | undefined;
  /** Records between progress lines on stderr. Default 50 000. */
  readonly progressEvery?: number | undefined;
}

/** `trust report`: per user, agent and server, what was added in the window; biggest expansions first. */
export async function trustReport(v: TrustOptions, io: CliIo, now: number = Date.now()): Promise<number> {
  const since = parseTime(v.since ?? "30d", now);
  const builder = new TrustReportBuilder({ since, ...(v.user !== undefined && { user: v.user }), ...(v.agent !== undefined && { agent: v.agent }) });
  const every = v.progressEvery ?? 50_000;
  let read = 0;
  const add = (r: DecisionRecord) => {
    builder.add(r);
    if (++read % every === 0) io.err(`read ${read} decision records…\n`);
  };
  if (v.file !== undefined) await readNdjson(v.file, add);
  else await forEachAuditRecord({ ...v, since: since.toISOString() }, (s) => add(s.record));
  io.err(`${read} decision record(s) read, ${builder.records} in the window\n`);
  const report = builder.report();
  io.out(v.json ? JSON.stringify(report) + "\n" : formatReport(report));
  return 0;
}

async function readNdjson(file: string, each: (r: DecisionRecord) => void): Promise<void> {
  const input = file === "-" ? process.stdin : createReadStream(file, { encoding: "utf8" });
  const lines = createInterface({ input, crlfDelay: Infinity });
  let n = 0;
  try {
    for await (const line of lines) {
      n++;
      if (line.trim() === "") continue;
      let r: DecisionRecord;
      try {
        r = JSON.parse(line) as DecisionRecord;
      } catch {
        throw new CliFailure(`${file}:${n}: not a JSON decision record`, 2);
      }
      if (typeof r !== "object" || r === null || typeof r.time !== "string" || typeof r.decisionId !== "string") throw new CliFailure(`${file}:${n}: not a decision record`, 2);
      each(r);
    }
  } catch (err) {
    if (err instanceof CliFailure) throw err;
    throw new CliFailure(`cannot read ${file}: ${(err as Error).message}`, 2);
  } finally {
    lines.close();
  }
}

function formatSubject(s: TrustSubjectReport): string {
  const lines = [`${s.kind} ${s.id}${s.added.length > 0 ? `  +${s.added.length}` : ""}`];
  for (const [relation, now] of Object.entries(s.now)) {
    const start = s.start[relation as keyof typeof s.start] ?? [];
    lines.push(`  ${relation.padEnd(8)} ${start.length} → ${now!.length}${now!.length > 0 ? `: ${now!.join(", ")}` : ""}`);
  }
  for (const a of s.added) lines.push(`  + ${a.relation.padEnd(8)} ${a.value}  ${a.at}  (${a.kind}, decision ${a.decisionId})`);
  return lines.join("\n");
}

/** The report as text: one block per subject, biggest expansions first. */
export function formatReport(report: TrustReport): string {
  const expanded = report.subjects.filter((s) => s.added.length > 0);
  const head = `Trust expansion since ${report.since ?? "the first record"}: ${expanded.length} of ${report.subjects.length} subject(s) gained relations (${report.records} decisions)\n`;
  return head + (report.subjects.length > 0 ? "\n" + report.subjects.map(formatSubject).join("\n\n") + "\n" : "");
}
