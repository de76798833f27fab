/** The `mcp-pdp` entry point: runs the command line and sets the exit code (see run-cli.ts). */
import { runCli } from "./run-cli.js";

const code = await runCli(process.argv.slice(2));
if (code >= 0) process.exitCode = code;
