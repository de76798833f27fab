#!/usr/bin/env node
// The mcp-pdp command. Sets the V8 flag that keeps cedar-wasm from crashing Node under load
// (see README, "V8 hazard") before anything loads cedar-wasm, then runs the compiled CLI.
import { setFlagsFromString } from "node:v8";
import { existsSync } from "node:fs";

setFlagsFromString("--no-turbo-inline-js-wasm-calls");
const cli = new URL("../dist/cli/main.js", import.meta.url);
if (!existsSync(cli)) {
  process.stderr.write("mcp-pdp: not built yet; run `npm run build` (npm ci/install does it too)\n");
  process.exit(2);
}
await import(cli.href);
