// Memory stays flat across reloads: the manager reuses two preparse slots (cedar-wasm never frees
// a preparsed set). Measured in a child process with --expose-gc, RSS after a full GC.
//
// Each version carries 150 extra policies so that a leak shows: minting a new preparse id per
// reload (the naive way) grows RSS by ~150 MB over these 200 reloads, ~70 MB of it in the second
// half; the manager's growth levels off after the first reloads (allocator warm-up) and stays flat.
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const MB = 1024 * 1024;

test("memory after 200 reloads stays within a small bound of memory after 1", { timeout: 300_000 }, async () => {
  const { stdout } = await promisify(execFile)(
    process.execPath,
    ["--expose-gc", "--no-turbo-inline-js-wasm-calls", "--import", "tsx", "test/policy/support/reload-memory.ts", "cedar", "200", "150"],
    { cwd: root, maxBuffer: 1 << 20 },
  );
  const r = JSON.parse(stdout) as {
    meanReloadMs: number;
    first: { rss: number; heapUsed: number };
    last: { rss: number; heapUsed: number };
    checkpoints: { reloads: number; rss: number }[];
  };
  const mid = r.checkpoints.find((c) => c.reloads === 100)?.rss ?? 0;
  const growth = (r.last.rss - r.first.rss) / MB;
  const secondHalf = (r.last.rss - mid) / MB;
  console.log(
    `reload memory: RSS after 1 reload ${(r.first.rss / MB).toFixed(1)} MB, after 100 ${(mid / MB).toFixed(1)} MB, ` +
      `after 200 ${(r.last.rss / MB).toFixed(1)} MB; heap ${(r.first.heapUsed / MB).toFixed(1)} → ${(r.last.heapUsed / MB).toFixed(1)} MB; ` +
      `mean reload ${r.meanReloadMs.toFixed(1)} ms (172 policies)`,
  );
  assert.ok(growth < 48, `RSS grew ${growth.toFixed(1)} MB over 200 reloads`);
  assert.ok(secondHalf < 12, `RSS grew ${secondHalf.toFixed(1)} MB between reload 100 and 200`);
  assert.ok(r.last.heapUsed - r.first.heapUsed < 8 * MB, "the JS heap grew");
});
