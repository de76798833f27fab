/** Where a command writes, and (for `audit tail --follow`) when to stop. Tests pass their own. */
export interface CliIo {
  readonly out: (text: string) => void;
  readonly err: (text: string) => void;
  /** Stops long-running commands (`audit tail --follow`). */
  readonly signal?: AbortSignal;
}

/** The process's own stdout and stderr. */
export const processIo: CliIo = {
  out: (text) => void process.stdout.write(text),
  err: (text) => void process.stderr.write(text),
};

/**
 * A command that failed for a reason the user should read: printed as `mcp-pdp: MESSAGE`, exit
 * `exitCode` (1 runtime failure, 2 usage, configuration or a request the PDP refuses as given).
 */
export class CliFailure extends Error {
  override readonly name = "CliFailure";
  constructor(
    message: string,
    readonly exitCode: 1 | 2,
  ) {
    super(message);
  }
}

/** JSON text of a value whose int64 fields are bigints. */
export function toJson(value: unknown, indent?: number): string {
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === "bigint" ? Number(v) : v), indent);
}
