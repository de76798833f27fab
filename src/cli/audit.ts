import { readFileSync } from "node:fs";
import * as grpc from "@grpc/grpc-js";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { recordFromMessage } from "../audit/record-proto.js";
import type { StoredRecord } from "../audit/types.js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { AuditService, type DecisionRecord as RecordMessage, type QueryDecisionsRequestSchema } from "../gen/mcppdp/v1/audit_pb.js";
import { Decision, ReasonCode } from "../gen/mcppdp/v1/common_pb.js";
import type { CallOptions, Client } from "../grpc/client.js";
import type { CliIo } from "./cli-io.js";
import { dial, resolveAddress } from "./pdp-client.js";
import { formatTable, type Column } from "./table.js";
import { UsageError } from "./usage-error.js";

/** The record filters of `audit query|tail|export` and `policy replay` (`withAuditFilters`). */
export interface AuditFilterOptions {
  readonly since?: string | undefined;
  readonly until?: string | undefined;
  readonly session?: string | undefined;
  readonly user?: string | undefined;
  readonly issuer?: string | undefined;
  readonly agent?: string | undefined;
  readonly client?: string | undefined;
  readonly server?: string | undefined;
  readonly tool?: string | undefined;
  readonly decision?: "allow" | "deny" | undefined;
  readonly reason?: string | undefined;
  readonly policy?: string | undefined;
  readonly kind?: string | undefined;
  readonly shadowDisagrees?: boolean | undefined;
  readonly firstSeen?: boolean | undefined;
}

/** The options of the `audit` subcommands (each takes the ones its help lists). */
export interface AuditOptions extends AuditFilterOptions {
  readonly address?: string | undefined;
  readonly token?: string | undefined;
  readonly ca?: string | undefined;
  readonly limit?: number | undefined;
  readonly interval?: number | undefined;
  readonly follow?: boolean | undefined;
  readonly json?: boolean | undefined;
}

type QueryInit = MessageInitShape<typeof QueryDecisionsRequestSchema>;
type AuditClient = Client<(typeof AuditService)["method"]>;

/** `1h`, `30m`, `45s`, `2d` before `now`, or an ISO-8601 time. */
export function parseTime(text: string, now: number = Date.now()): Date {
  const m = /^(\d+)(s|m|h|d)$/.exec(text);
  if (m) return new Date(now - Number(m[1]) * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[m[2] as "s" | "m" | "h" | "d"]);
  const ms = Date.parse(text);
  if (!Number.isFinite(ms)) throw new UsageError(`not a time or duration: ${text} (use 1h, 30m, 2d, or ISO-8601)`);
  return new Date(ms);
}

function filterRequest(v: AuditOptions): QueryInit {
  const req: Record<string, unknown> = {};
  if (v.since) req.startTime = timestampFromDate(parseTime(v.since));
  if (v.until) req.endTime = timestampFromDate(parseTime(v.until));
  const plain: [keyof AuditOptions, string][] = [
    ["session", "sessionId"],
    ["user", "userSubject"],
    ["issuer", "userIssuer"],
    ["agent", "agentId"],
    ["client", "clientId"],
    ["server", "serverId"],
    ["tool", "tool"],
    ["policy", "policyId"],
    ["kind", "kind"],
  ];
  for (const [opt, field] of plain) if (v[opt] !== undefined) req[field] = v[opt];
  if (v.shadowDisagrees) req.shadowDisagrees = true;
  if (v.firstSeen) req.firstSeen = true;
  if (v.decision !== undefined) req.decision = v.decision === "allow" ? Decision.ALLOW : Decision.DENY;
  if (v.reason !== undefined) {
    const code = (ReasonCode as unknown as Record<string, number>)[v.reason.toUpperCase().replace(/^REASON_CODE_/, "")];
    if (code === undefined || code === 0) throw new UsageError(`unknown reason code ${v.reason}`);
    req.reasonCode = code;
  }
  return req as QueryInit;
}

const REASON_WIDTH = Math.max(...Object.keys(ReasonCode).filter((k) => Number.isNaN(Number(k))).map((k) => k.length));

/** The columns of a record table; `fixed` gives every column a width that holds its cells (for `tail`). */
function recordColumns(fixed: boolean): Column[] {
  const cols: [string, number | undefined, number | undefined][] = [
    // header, max, fixed width
    ["TIME", undefined, 20],
    ["SEQ", undefined, 7],
    ["DECISION", undefined, 8],
    ["REASON", undefined, REASON_WIDTH],
    ["KIND", undefined, 16],
    ["TOOL", 24, 24],
    ["USER", 20, 20],
    ["AGENT", 40, 40],
    ["SESSION", 12, 12],
    ["DECISION ID", undefined, undefined],
  ];
  return cols.map(([header, max, width]) => ({ header, ...(max !== undefined && { max }), ...(fixed && width !== undefined && { width }) }));
}

function recordRow({ record: r }: StoredRecord): string[] {
  return [
    r.time.replace("T", " ").replace(/\.\d+Z$/, "Z"),
    String(r.sequence),
    r.decision,
    r.reasonCode,
    r.kind,
    r.tool ?? r.resourceUri ?? "",
    r.userSubject ?? "",
    r.agentId ?? "",
    r.sessionId ?? "",
    r.decisionId,
  ];
}

/**
 * A readable table of records (in the order given). `fixed` widths line up with a header printed
 * earlier (`tail --follow` prints rows as they come); `header: false` leaves the header out.
 */
export function recordTable(records: readonly StoredRecord[], options: { fixed?: boolean; header?: boolean } = {}): string {
  return formatTable(recordColumns(options.fixed ?? false), records.map(recordRow), { header: options.header ?? true });
}

/** One record in detail, for `get` and `explain`. */
function formatRecord({ entryId, record: r }: StoredRecord): string {
  const lines: [string, unknown][] = [
    ["decision", `${r.decision} ${r.reasonCode}`],
    ["decision id", r.decisionId],
    ["time", r.time],
    ["kind", r.kind],
    ["action", r.action],
    ["tool", r.tool],
    ["resource", r.resourceUri],
    ["user", r.userSubject && `${r.userSubject} (${r.userIssuer ?? ""})`],
    ["agent", r.agentId],
    ["client", r.clientId],
    ["server", r.serverId],
    ["idp", r.idp],
    ["session", r.sessionId],
    ["purpose", r.purpose],
    ["caller", r.caller],
    ["first seen", r.firstSeen && [r.firstSeen.join(", "), ...(r.firstSeenScopes ?? []).map((x) => `scope ${x}`), ...(r.firstSeenPaths ?? []).map((x) => `path ${x}`)].join("; ")],
    ["arguments", r.argumentsDigest && `sha256:${r.argumentsDigest}`],
    ["message", r.message],
    ["shadow", r.shadow && `${r.shadow.decision} ${r.shadow.reasonCode}${r.shadow.policies.length ? ` [${r.shadow.policies.join(", ")}]` : ""} (version ${r.shadow.version})`],
    ["replayable", r.kind === "authorize" ? (r.replay ? (r.replay.withheld ? `no (argument values not recorded: ${r.replay.withheld.join(", ")})` : "yes") : "no (no replay facts)") : undefined],
    ["reasons", r.reasons.map((x) => `${x.policyId}: ${x.reason}`).join("\n             ")],
    ["policy", r.policyVersion],
    ["latency", `${r.latencyUs} µs`],
    ["instance", r.instance],
    ["chain", `${r.chain} #${r.sequence} (entry ${entryId})`],
    ["hash", r.hash],
    ["prev hash", r.prevHash || "(first)"],
  ];
  return lines
    .filter(([, v]) => v !== undefined && v !== "")
    .map(([k, v]) => `${k.padEnd(11)}  ${String(v)}`)
    .join("\n") + "\n";
}

function credentials(v: AuditOptions): grpc.ChannelCredentials | undefined {
  return v.ca ? grpc.credentials.createSsl(readFileSync(v.ca)) : undefined;
}

/** All pages of a query, newest first, up to `max` records. */
async function queryAll(client: AuditClient, call: CallOptions, req: QueryInit, max: number, each?: (r: StoredRecord) => void): Promise<StoredRecord[]> {
  const out: StoredRecord[] = [];
  let token = "";
  do {
    const res = await client.queryDecisions({ ...req, pageSize: Math.min(1000, max - out.length), pageToken: token }, call);
    for (const m of res.records) {
      const r = recordFromMessage(m);
      if (each) each(r);
      else out.push(r);
      if (out.length >= max) return out;
    }
    token = res.nextPageToken;
  } while (token);
  return out;
}

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => (clearTimeout(t), resolve()), { once: true });
  });

/** Runs `fn` with an AuditService client for the options' address, TLS CA and operator bearer. */
async function withAudit<T>(v: AuditOptions, fn: (client: AuditClient, call: CallOptions) => Promise<T>): Promise<T> {
  const address = resolveAddress(v.address);
  const creds = credentials(v);
  const client: AuditClient = dial(AuditService, address, creds ? { credentials: creds } : {});
  try {
    return await fn(client, v.token ? { bearer: v.token } : {});
  } finally {
    client.close();
  }
}

const ndjson = (records: readonly StoredRecord[]) => records.map((r) => JSON.stringify({ entryId: r.entryId, ...r.record }) + "\n").join("");

/** `audit query`: matching records, newest first — a table (count on stderr) or NDJSON. */
export function auditQuery(v: AuditOptions, io: CliIo): Promise<number> {
  const req = filterRequest(v);
  return withAudit(v, async (client, call) => {
    const records = await queryAll(client, call, req, v.limit ?? 50);
    io.out(v.json ? ndjson(records) : recordTable(records));
    if (!v.json) io.err(`${records.length} record(s)\n`);
    return 0;
  });
}

/** `audit export`: every matching record in its stored form, NDJSON (count on stderr). */
export function auditExport(v: AuditOptions, io: CliIo): Promise<number> {
  const req = filterRequest(v);
  return withAudit(v, async (client, call) => {
    let n = 0;
    await queryAll(client, call, req, Number.MAX_SAFE_INTEGER, (r) => {
      io.out(JSON.stringify(r.record) + "\n");
      n++;
    });
    io.err(`${n} record(s) exported\n`);
    return 0;
  });
}

/**
 * Every record matching the options' filters, newest first, handed to `each` page by page (the
 * trust report reads the audit through this).
 */
export function forEachAuditRecord(v: AuditOptions, each: (r: StoredRecord) => void): Promise<void> {
  const req = filterRequest(v);
  return withAudit(v, async (client, call) => void (await queryAll(client, call, req, Number.MAX_SAFE_INTEGER, each)));
}

/** `audit get ID`: one record in detail, or JSON. */
export function auditGet(id: string, v: AuditOptions, io: CliIo): Promise<number> {
  return withAudit(v, async (client, call) => {
    const res = await client.getDecision({ decisionId: id }, call);
    const r = recordFromMessage(res.record as RecordMessage);
    io.out(v.json ? JSON.stringify({ entryId: r.entryId, ...r.record }) + "\n" : formatRecord(r));
    return 0;
  });
}

/** `audit explain ID`: a record with its determining policies' text at its version. */
export function auditExplain(id: string, v: AuditOptions, io: CliIo): Promise<number> {
  return withAudit(v, async (client, call) => {
    const res = await client.explainDecision({ decisionId: id }, call);
    const r = recordFromMessage(res.record as RecordMessage);
    const policies = res.policies.map((p) => ({ policyId: p.policyId, file: p.file, line: p.line, text: p.text }));
    if (v.json) {
      io.out(JSON.stringify({ record: r.record, entryId: r.entryId, versionArchived: res.versionArchived, policies }) + "\n");
      return 0;
    }
    let text = formatRecord(r);
    if (policies.length === 0) text += `\nno determining policies (${r.record.reasonCode})\n`;
    else if (!res.versionArchived) text += `\npolicy version ${r.record.policyVersion} is no longer archived; policy texts unavailable\n`;
    for (const p of policies)
      text += p.text ? `\n── ${p.policyId}  (${p.file}:${p.line}, version ${r.record.policyVersion})\n${p.text}\n` : `\n── ${p.policyId}  (not found in version ${r.record.policyVersion})\n`;
    io.out(text);
    return 0;
  });
}

/** `audit verify`: checks the hash chain; 1 naming the first bad record. */
export function auditVerify(v: AuditOptions, io: CliIo): Promise<number> {
  return withAudit(v, async (client, call) => {
    const res = await client.verifyAuditChain({}, call);
    if (v.json) {
      io.out(
        JSON.stringify({
          ok: res.ok,
          checked: Number(res.checked),
          firstSequence: Number(res.firstSequence),
          lastSequence: Number(res.lastSequence),
          headHash: res.headHash,
          ...(!res.ok && {
            firstBadSequence: Number(res.firstBadSequence),
            firstBadDecisionId: res.firstBadDecisionId,
            firstBadEntryId: res.firstBadEntryId,
            problem: res.problem,
          }),
        }) + "\n",
      );
    } else if (res.ok) {
      io.out(`chain OK: ${res.checked} record(s), sequence ${res.firstSequence}…${res.lastSequence}, head ${res.headHash || "(empty)"}\n`);
    } else {
      const who = [res.firstBadDecisionId && `decision ${res.firstBadDecisionId}`, res.firstBadEntryId && `entry ${res.firstBadEntryId}`].filter(Boolean).join(", ");
      io.out(`chain BROKEN at sequence ${res.firstBadSequence}${who ? ` (${who})` : ""}: ${res.problem}\n(${res.checked} record(s) read)\n`);
    }
    return res.ok ? 0 : 1;
  });
}

/**
 * `audit tail`: the newest records, oldest first, under a header whose columns have fixed widths,
 * so rows that `--follow` prints later line up with it.
 */
export function auditTail(v: AuditOptions, io: CliIo): Promise<number> {
  const req = filterRequest(v);
  const interval = v.interval ?? 1000;
  const show = (records: StoredRecord[], header: boolean) => {
    if (v.json) io.out(ndjson(records));
    else if (header || records.length > 0) io.out(recordTable(records, { fixed: true, header }));
  };
  return withAudit(v, async (client, call) => {
    const first = (await queryAll(client, call, req, v.limit ?? 20)).reverse();
    show(first, true);
    let last = first.length ? first[first.length - 1]!.record.sequence : 0;
    if (!last) {
      const newest = await queryAll(client, call, {}, 1);
      last = newest[0]?.record.sequence ?? 0;
    }
    while (v.follow && !io.signal?.aborted) {
      await sleep(interval, io.signal);
      if (io.signal?.aborted) break;
      // Newest first until what was already shown; cursor paging keeps this stable while records arrive.
      const fresh: StoredRecord[] = [];
      let token = "";
      let newestSeen = last;
      outer: do {
        const res = await client.queryDecisions({ ...req, pageSize: 500, pageToken: token }, call);
        for (const m of res.records) {
          const r = recordFromMessage(m);
          if (r.record.sequence <= last) break outer;
          newestSeen = Math.max(newestSeen, r.record.sequence);
          fresh.push(r);
        }
        token = res.nextPageToken;
      } while (token);
      show(fresh.reverse(), false);
      last = newestSeen;
    }
    return 0;
  });
}
