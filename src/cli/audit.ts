import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import * as grpc from "@grpc/grpc-js";
import { timestampFromDate } from "@bufbuild/protobuf/wkt";
import { recordFromMessage } from "../audit/record-proto.js";
import type { StoredRecord } from "../audit/types.js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import { AuditService, type DecisionRecord as RecordMessage, type QueryDecisionsRequestSchema } from "../gen/mcppdp/v1/audit_pb.js";
import { Decision, ReasonCode } from "../gen/mcppdp/v1/common_pb.js";
import { createClient, type Client } from "../grpc/client.js";
import { UsageError } from "./usage-error.js";

const USAGE = `usage: mcp-pdp audit <command> [options]
  query   [filters] [--limit N] [--json]        matching records, newest first (a table, or NDJSON)
  tail    [filters] [--limit N] [--follow] [--interval MS] [--json]
                                                the newest records, oldest first; --follow keeps polling
  get     DECISION_ID [--json]                  one record
  explain DECISION_ID [--json]                  a record with its determining policies' text at its version
  export  [filters]                             every matching record as NDJSON (stored form, hash-checkable)
  verify                                        check the hash chain; exit 1 naming the first bad record
filters: --since 1h|30m|2d|ISO  --until …  --session ID  --user SUB  --issuer ISS  --agent ID
         --client ID  --server URI  --tool NAME  --decision allow|deny  --reason CODE  --policy ID  --kind K
connection: --address HOST:PORT (default 127.0.0.1:50051)  --token JWT (operator bearer)  --ca FILE (TLS)`;

/** Where the command writes, and (for `tail --follow`) when to stop. For tests; default the process's own. */
export interface AuditCommandIo {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  /** Stops `tail --follow`. */
  readonly signal?: AbortSignal;
}

const OPTIONS = {
  address: { type: "string", default: "127.0.0.1:50051" },
  token: { type: "string" },
  ca: { type: "string" },
  since: { type: "string" },
  until: { type: "string" },
  session: { type: "string" },
  user: { type: "string" },
  issuer: { type: "string" },
  agent: { type: "string" },
  client: { type: "string" },
  server: { type: "string" },
  tool: { type: "string" },
  decision: { type: "string" },
  reason: { type: "string" },
  policy: { type: "string" },
  kind: { type: "string" },
  limit: { type: "string" },
  interval: { type: "string", default: "1000" },
  follow: { type: "boolean", short: "f", default: false },
  json: { type: "boolean", default: false },
  help: { type: "boolean", short: "h", default: false },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof OPTIONS; allowPositionals: true }>>["values"];
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

function filterRequest(v: Values): QueryInit {
  const req: Record<string, unknown> = {};
  if (v.since) req.startTime = timestampFromDate(parseTime(v.since));
  if (v.until) req.endTime = timestampFromDate(parseTime(v.until));
  const plain: [keyof Values, string][] = [
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
  if (v.decision !== undefined) {
    const d = v.decision.toLowerCase();
    if (d !== "allow" && d !== "deny") throw new UsageError("--decision must be allow or deny");
    req.decision = d === "allow" ? Decision.ALLOW : Decision.DENY;
  }
  if (v.reason !== undefined) {
    const code = (ReasonCode as unknown as Record<string, number>)[v.reason.toUpperCase().replace(/^REASON_CODE_/, "")];
    if (code === undefined || code === 0) throw new UsageError(`unknown reason code ${v.reason}`);
    req.reasonCode = code;
  }
  return req as QueryInit;
}

function positiveInt(text: string | undefined, fallback: number, name: string): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${name} must be a positive integer`);
  return n;
}

const short = (s: string, n: number) => (s.length <= n ? s : `${s.slice(0, n - 1)}…`);

/** A readable table of records (oldest or newest first, as given). */
export function formatTable(records: readonly StoredRecord[]): string {
  const head = ["TIME", "SEQ", "DECISION", "REASON", "KIND", "TOOL", "USER", "AGENT", "SESSION", "DECISION ID"];
  const rows = records.map(({ record: r }) => [
    r.time.replace("T", " ").replace(/\.\d+Z$/, "Z"),
    String(r.sequence),
    r.decision,
    r.reasonCode,
    r.kind,
    short(r.tool ?? r.resourceUri ?? "", 24),
    short(r.userSubject ?? "", 20),
    short(r.agentId ?? "", 40),
    short(r.sessionId ?? "", 12),
    r.decisionId,
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join("  ");
  return [line(head), ...rows.map(line)].join("\n") + "\n";
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
    ["arguments", r.argumentsDigest && `sha256:${r.argumentsDigest}`],
    ["message", r.message],
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

function credentials(v: Values): grpc.ChannelCredentials | undefined {
  return v.ca ? grpc.credentials.createSsl(readFileSync(v.ca)) : undefined;
}

/** All pages of a query, newest first, up to `max` records. */
async function queryAll(client: AuditClient, call: object, req: QueryInit, max: number, each?: (r: StoredRecord) => void): Promise<StoredRecord[]> {
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

/**
 * `mcp-pdp audit …`: queries, tails, exports, explains and verifies the decision audit over the
 * AuditService (operator bearer via `--token`). Resolves to the exit code: 0 done, 1 chain broken
 * or record not found, 2 usage error (thrown as UsageError).
 */
export async function auditCommand(argv: string[], io: AuditCommandIo = { out: (t) => void process.stdout.write(t), err: (t) => void process.stderr.write(t) }): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true });
  } catch (err) {
    throw new UsageError(`${(err as Error).message}\n\n${USAGE}`);
  }
  const { values: v, positionals } = parsed;
  const [command, id] = positionals;
  if (v.help || command === undefined || command === "help") {
    io.out(`${USAGE}\n`);
    return 0;
  }
  const creds = credentials(v);
  const client: AuditClient = createClient(AuditService, v.address, creds ? { credentials: creds } : {});
  const call = { ...(v.token && { bearer: v.token }), timeoutMs: 30_000 };
  const print = (records: readonly StoredRecord[]) =>
    io.out(v.json ? records.map((r) => JSON.stringify({ entryId: r.entryId, ...r.record }) + "\n").join("") : formatTable(records));
  try {
    switch (command) {
      case "query": {
        const records = await queryAll(client, call, filterRequest(v), positiveInt(v.limit, 50, "--limit"));
        print(records);
        if (!v.json) io.err(`${records.length} record(s)\n`);
        return 0;
      }
      case "export": {
        let n = 0;
        await queryAll(client, call, filterRequest(v), Number.MAX_SAFE_INTEGER, (r) => {
          io.out(JSON.stringify(r.record) + "\n");
          n++;
        });
        io.err(`${n} record(s) exported\n`);
        return 0;
      }
      case "tail":
        return await tail(client, call, v, io);
      case "get":
      case "explain": {
        if (!id) throw new UsageError(`mcp-pdp audit ${command} DECISION_ID`);
        if (command === "get") {
          const res = await client.getDecision({ decisionId: id }, call);
          const r = recordFromMessage(res.record as RecordMessage);
          io.out(v.json ? JSON.stringify({ entryId: r.entryId, ...r.record }) + "\n" : formatRecord(r));
          return 0;
        }
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
      }
      case "verify": {
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
      }
      default:
        throw new UsageError(`unknown audit command "${command}"\n\n${USAGE}`);
    }
  } catch (err) {
    const e = err as grpc.ServiceError;
    if (e?.code === grpc.status.NOT_FOUND) {
      io.err(`mcp-pdp audit: ${e.details}\n`);
      return 1;
    }
    throw err;
  } finally {
    client.close();
  }
}

async function tail(client: AuditClient, call: object, v: Values, io: AuditCommandIo): Promise<number> {
  const req = filterRequest(v);
  const interval = positiveInt(v.interval, 1000, "--interval");
  const show = (records: StoredRecord[]) => {
    if (records.length === 0) return;
    if (v.json) io.out(records.map((r) => JSON.stringify({ entryId: r.entryId, ...r.record }) + "\n").join(""));
    else io.out(formatTable(records).split("\n").slice(1).join("\n"));
  };
  const first = (await queryAll(client, call, req, positiveInt(v.limit, 20, "--limit"))).reverse();
  if (!v.json) io.out(formatTable([]));
  show(first);
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
    show(fresh.reverse());
    last = newestSeen;
  }
  return 0;
}
