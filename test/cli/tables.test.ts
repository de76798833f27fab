/**
 * Tables the CLI prints line up (header and rows, also when `audit tail --follow` prints rows in
 * later batches), and every command that prints a table has `--json`. Real PDP, real bin.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { formatTable } from "../../src/cli/table.js";
import { startTestPdp, type TestPdp } from "../support/pdp.js";
import { assertBuilt, cli, startCli } from "./run-cli.js";

let pdp: TestPdp;
let env: Record<string, string>;

before(async () => {
  assertBuilt();
  pdp = await startTestPdp();
  env = { MCP_PDP_ADDRESS: pdp.address };
  for (const tool of ["search_documents", "deploy_production", "read_document"]) await cli(["check", "--dev", "--tool", tool], { env });
});
after(() => pdp?.close());

/** Where each header cell starts ("TIME  SEQ  DECISION ID" → 0, 6, 11: cells are split by 2+ spaces). */
function columnStarts(header: string): number[] {
  const starts = [0];
  for (const m of header.matchAll(/ {2,}(?=\S)/g)) starts.push(m.index! + m[0].length);
  return starts;
}

/** The cell of `line` in the column starting at `start`: up to the next run of two spaces. */
function cellAt(line: string, start: number): string {
  return line.slice(start).split(/ {2,}/)[0]!;
}

/**
 * Asserts that every row has a cell boundary (two spaces) right before each column start, or
 * ends before it (its last cells are empty: lines carry no trailing spaces).
 */
function assertAligned(header: string, rows: readonly string[]): void {
  const starts = columnStarts(header);
  for (const row of rows)
    for (const s of starts.slice(1)) {
      if (row.length <= s - 2) continue;
      assert.equal(row.slice(s - 2, s), "  ", `column at ${s} not aligned:\n${header}\n${row}`);
    }
}

test("formatTable: columns as wide as their widest cell, the last one unpadded; fixed widths and cut cells", () => {
  const t = formatTable([{ header: "A" }, { header: "BB", max: 4 }, { header: "C" }], [["xyz", "1", "last"], ["", "longer", ""]]);
  assert.equal(t, "A    BB    C\nxyz  1     last\n     lon…\n");
  const fixed = formatTable([{ header: "A", width: 5 }, { header: "B" }], [["123456789", "x"]], { header: false });
  assert.equal(fixed, "1234…  x\n");
  assert.equal(formatTable([{ header: "A", width: 3 }, { header: "B" }], []), "A    B\n");
});

test("audit tail: the header lines up with the rows, also for rows that arrive later (--follow)", { timeout: 300_000 }, async () => {
  const tail = await cli(["audit", "tail", "--limit", "10"], { env });
  assert.equal(tail.code, 0, tail.err);
  const [header, ...rows] = tail.out.trimEnd().split("\n");
  assert.match(header!, /^TIME\s+SEQ\s+DECISION\s+REASON\s+KIND\s+TOOL\s+USER\s+AGENT\s+SESSION\s+DECISION ID$/);
  assert.ok(rows.length >= 5, tail.out);
  assertAligned(header!, rows);
  const json = await cli(["audit", "tail", "--limit", "10", "--json"], { env });
  const records = json.out.trim().split("\n").map((l) => JSON.parse(l) as { decision: string; reasonCode: string; decisionId: string });
  assert.equal(records.length, rows.length);
  const starts = columnStarts(header!);
  rows.forEach((row, i) => {
    assert.equal(cellAt(row, starts[2]!), records[i]!.decision);
    assert.equal(cellAt(row, starts[3]!), records[i]!.reasonCode);
    assert.equal(row.slice(starts[9]!), records[i]!.decisionId);
  });

  const follow = startCli(["audit", "tail", "--limit", "1", "--follow", "--interval", "200"], { env });
  try {
    await follow.waitFor(/DECISION ID\n.+\n/, 120_000);
    const r = await cli(["check", "--dev", "--tool", "search_documents"], { env });
    assert.equal(r.code, 0, r.err);
    await follow.waitFor(/DECISION ID\n.+\n.+\n.+\n/, 120_000); // the first row, then open_session and authorize
    const [h, ...later] = follow.out().trimEnd().split("\n");
    assert.ok(later.length >= 2, follow.out());
    assertAligned(h!, later);
  } finally {
    await follow.stop();
  }
});

test("audit query: an aligned table, or NDJSON with --json", { timeout: 300_000 }, async () => {
  const q = await cli(["audit", "query", "--limit", "10"], { env });
  assert.equal(q.code, 0, q.err);
  const [header, ...rows] = q.out.trimEnd().split("\n");
  assertAligned(header!, rows);
  assert.match(q.err, /^\d+ record\(s\)\n$/);
  const json = await cli(["audit", "query", "--limit", "10", "--json"], { env });
  assert.equal(json.code, 0);
  assert.equal(json.out.trim().split("\n").map((l) => JSON.parse(l) as unknown).length, rows.length);
});

test("approvals list: an aligned table with a header, or NDJSON with --json", { timeout: 300_000 }, async () => {
  const bot = ["--agent", "spiffe://dev.mcp-pdp.local/agent/release-bot", "--purpose", "release", "--scope", "deploy.production"];
  const opened = await cli(["session", "open", "--dev", ...bot, "--tool", "deploy_production", "--json"], { env });
  assert.equal(opened.code, 0, opened.err);
  const { sessionId } = JSON.parse(opened.out) as { sessionId: string };
  for (const version of ["1", "22"]) {
    const r = await cli(["check", "--dev", ...bot, "--session", sessionId, "--tool", "deploy_production", "--args", JSON.stringify({ version }), "--json"], { env });
    assert.equal((JSON.parse(r.out) as { reasonCode: string }).reasonCode, "APPROVAL_REQUIRED", r.out + r.err);
  }
  const list = await cli(["approvals", "list", "--session", sessionId], { env });
  assert.equal(list.code, 0, list.err);
  const lines = list.out.trimEnd().split("\n");
  const [header, ...rows] = lines.slice(0, -1);
  assert.match(header!, /^ID\s+STATE\s+TOOL\s+USER\s+AGENT\s+REQUESTED\s+EXPIRES\s+DECIDED BY$/);
  assert.equal(rows.length, 2);
  assertAligned(header!, rows);
  assert.equal(lines.at(-1), "2 approval(s)");
  const json = await cli(["approvals", "list", "--session", sessionId, "--json"], { env });
  const approvals = json.out.trim().split("\n").map((l) => JSON.parse(l) as { approvalId: string; state: string; tool: string });
  assert.deepEqual(approvals.map((a) => [a.state, a.tool]), [["pending", "deploy_production"], ["pending", "deploy_production"]]);
  assert.deepEqual(rows.map((r) => r.split(/\s+/)[0]).sort(), approvals.map((a) => a.approvalId).sort());
});
