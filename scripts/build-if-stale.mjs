#!/usr/bin/env node
// Brings dist/ up to date for `npm start` and the test runner, cheaply: when nothing under src/
// (files or folders, so a deleted file counts) nor a tsconfig is newer than the last build's
// dist/.tsbuildinfo, it exits at once without loading TypeScript; otherwise it runs the
// incremental `tsc -b tsconfig.build.json` (which recompiles only what changed) and marks the
// build as current. `npm ci` builds through `prepare`, so the first start after it builds nothing.
import { spawnSync } from "node:child_process";
import { readdirSync, statSync, utimesSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const buildInfo = path.join(root, "dist", ".tsbuildinfo");

/** The newest modification time under `p` (itself included), in ms. */
function newest(p) {
  const st = statSync(p);
  let t = st.mtimeMs;
  if (st.isDirectory()) for (const name of readdirSync(p)) t = Math.max(t, newest(path.join(p, name)));
  return t;
}

function builtAt() {
  try {
    return statSync(buildInfo).mtimeMs;
  } catch {
    return 0;
  }
}

const inputs = ["src", "tsconfig.json", "tsconfig.build.json"].map((p) => path.join(root, p));
const built = builtAt();
if (built > 0 && inputs.every((p) => newest(p) <= built)) process.exit(0);

const tsc = path.join(root, "node_modules", "typescript", "bin", "tsc");
const result = spawnSync(process.execPath, [tsc, "-b", "tsconfig.build.json"], { cwd: root, stdio: "inherit" });
if (result.status !== 0) {
  console.error("mcp-pdp: the build failed (tsc -b tsconfig.build.json); fix the errors above");
  process.exit(result.status ?? 1);
}
// tsc leaves its build info alone when only a deletion made the check above stale: mark it current.
const now = new Date();
utimesSync(buildInfo, now, now);
