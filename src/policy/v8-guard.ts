/**
 * Sets `--no-turbo-inline-js-wasm-calls` before cedar-wasm loads.
 *
 * Under sustained load, Node 20's optimizer can inline JS→WASM calls into cedar-wasm and later
 * crash the process in the deoptimizer (`Fatal error … unreachable code`). The flag prevents it,
 * and `NODE_OPTIONS` refuses it, so every module that imports cedar-wasm imports this module
 * FIRST: ESM evaluates imports in order, so the flag is set before the WASM is compiled, in
 * every entry point (server, CLI, tests, bench).
 */
import v8 from "node:v8";

v8.setFlagsFromString("--no-turbo-inline-js-wasm-calls");

/** The V8 flag this module sets (exported for status output and tests). */
export const V8_GUARD_FLAG = "--no-turbo-inline-js-wasm-calls";
