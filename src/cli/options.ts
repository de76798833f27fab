import { InvalidArgumentError, Option } from "commander";

/** For a repeatable option (`--tool a --tool b`): collects the values in order. */
export function collect(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** Parses a whole number ≥ 1 (seconds, a limit, an interval). */
export function positiveInt(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError("Must be a positive integer.");
  return n;
}

/** Parses a whole number ≥ 0 (a bound that may be zero, e.g. `--max-flips 0`). */
export function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || !Number.isSafeInteger(n)) throw new InvalidArgumentError("Must be a whole number ≥ 0.");
  return n;
}

/** Parses a TCP port, 0 (any free port) to 65535. */
export function port(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value) || n > 65535) throw new InvalidArgumentError("Must be an integer in [0, 65535].");
  return n;
}

/** `--address HOST:PORT`, shared by every command that dials the PDP. */
export function addressOption(): Option {
  return new Option(
    "--address <host:port>",
    "the PDP to dial (env: MCP_PDP_ADDRESS; default: the PDP's configured host and port — MCP_PDP_PORT or the config file's — else 127.0.0.1:50051)",
  );
}

/** `--json`: machine-readable output (one JSON object, or NDJSON for lists). */
export function jsonOption(what = "print JSON instead of text"): Option {
  return new Option("--json", what);
}

/** `--token JWT`: the operator's (or a PEP's) own bearer credential for the call. */
export function tokenOption(): Option {
  return new Option("--token <jwt>", "your bearer credential (operator or PEP), sent as authorization: Bearer");
}
