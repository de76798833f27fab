/**
 * `npm run bench`: the Authorize benchmark (bench/authorize.ts) by default; `--peer` runs mcp-pdp
 * beside Cerbos (bench/peer.ts); `--compare <git-ref>` measures that commit beside this tree
 * (bench/compare.ts); `--gateway` runs `tools/call` through `mcp-pdp gateway` beside the same upstream
 * called directly (bench/gateway.ts); `--costs [authzen,telemetry,args]` and `--metrics-compare` measure
 * what a feature costs, lanes side by side in one run (bench/costs.ts); `--replay` measures `mcp-pdp
 * policy replay` from the Redis stream (bench/replay.ts). Each reads its own options
 * from the command line.
 */
const argv = process.argv.slice(2);
if (argv.includes("--peer")) await import("./peer.js");
else if (argv.includes("--replay")) await import("./replay.js");
else if (argv.includes("--gateway")) await import("./gateway.js");
else if (argv.some((a) => a === "--costs" || a.startsWith("--costs=") || a === "--metrics-compare")) await import("./costs.js");
else if (argv.some((a) => a === "--compare" || a.startsWith("--compare="))) await import("./compare.js");
else await import("./authorize.js");
