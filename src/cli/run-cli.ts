import { CommanderError } from "commander";
import { PdpError } from "../errors.js";
import { CliFailure, processIo, type CliIo } from "./cli-io.js";
import { createProgram, type ProgramRun } from "./program.js";

/**
 * Runs one `mcp-pdp` command line (without the program name) and resolves to its exit code:
 * 0 done (ALLOW), 3 DENY, 1 runtime failure, 2 usage or configuration error; -1 when the command
 * keeps running (`serve`). Never throws: every failure is printed to `io.err` first.
 */
export async function runCli(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const run: ProgramRun = { io, code: 0 };
  const program = createProgram(run);
  if (argv.length === 0) {
    program.outputHelp();
    return 0;
  }
  try {
    await program.parseAsync(argv as string[], { from: "user" });
    return run.code;
  } catch (err) {
    return report(err, io);
  }
}

/** Prints a failure (commander has printed its own already) and gives its exit code. */
function report(err: unknown, io: CliIo): number {
  if (err instanceof CommanderError) return err.exitCode === 0 ? 0 : 2;
  if (err instanceof CliFailure) {
    io.err(`mcp-pdp: ${err.message}\n`);
    return err.exitCode;
  }
  if (err instanceof PdpError) {
    io.err(`mcp-pdp: ${err.message}\n`);
    return err.code === "CONFIG_INVALID" || err.code === "INVALID_REQUEST" ? 2 : 1;
  }
  io.err(`mcp-pdp: ${(err as Error)?.message ?? String(err)}\n`);
  return 1;
}

/**
 * `mcp-pdp audit ARGV…` run in-process with its own output (tests, embedding). Resolves to the
 * exit code: 0 done, 1 chain broken, record not found or no PDP, 2 usage error.
 */
export function auditCommand(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  return runCli(["audit", ...argv], io);
}
