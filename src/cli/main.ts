import { check } from "./check.js";
import { devToken } from "./dev-token.js";
import { UsageError } from "./usage-error.js";

const USAGE = `mcp-pdp — a policy decision point for MCP deployments

  mcp-pdp serve [--config FILE]        start the gRPC PDP (default: development mode on 127.0.0.1:50051)
  mcp-pdp check --dev --tool NAME …    ask the PDP one Authorize question (see mcp-pdp check --help)
  mcp-pdp session open|get|end …       open, read or end a delegated session (see mcp-pdp session --help)
  mcp-pdp revoke --session|--agent|--user|--client|--jti …   revoke, on every replica (operator)
  mcp-pdp approvals list|approve|reject …   human approvals of high-impact calls (operator console)
  mcp-pdp policy validate|test [DIR] [--json | --junit FILE]   check policies and run their test cases
  mcp-pdp dev token user|workload|caller [--sub S] [--aud A] …   mint a DEVELOPMENT token
  mcp-pdp audit query|tail|get|explain|export|verify …   the decision audit (see mcp-pdp audit --help)
`;

/** Runs one CLI command; resolves to the exit code. */
export async function runCli(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case "serve": {
      const i = rest.indexOf("--config");
      const { serve } = await import("../main.js");
      await serve(i >= 0 ? rest[i + 1] : undefined);
      return -1; // keeps running
    }
    case "check":
      return check(rest);
    case "session":
      return (await import("./session.js")).sessionCommand(rest);
    case "approvals":
      return (await import("./approvals.js")).approvalsCommand(rest);
    case "revoke":
      return (await import("./revoke.js")).revokeCommand(rest);
    case "audit":
      return (await import("./audit.js")).auditCommand(rest);
    case "policy":
      return (await import("./policy.js")).policyCommand(rest);
    case "dev":
      if (rest[0] === "token") return devToken(rest.slice(1));
      throw new UsageError(USAGE);
    case undefined:
    case "help":
    case "--help":
      process.stdout.write(USAGE);
      return 0;
    default:
      throw new UsageError(`unknown command "${command}"\n\n${USAGE}`);
  }
}

runCli(process.argv.slice(2)).then(
  (code) => {
    if (code >= 0) process.exitCode = code;
  },
  (err: unknown) => {
    if (err instanceof UsageError) {
      process.stderr.write(`${err.message}\n`);
      process.exitCode = 2;
      return;
    }
    const e = err as { code?: unknown; details?: string; message?: string };
    process.stderr.write(`mcp-pdp: ${e.details ?? e.message ?? String(err)}\n`);
    process.exitCode = 2;
  },
);
