/**
 * The `mcp-pdp` command tree (commander): every command, option and help text, and nothing
 * else — each action loads its implementation only when it runs, so `--help` stays fast.
 */
import { readFileSync } from "node:fs";
import { Argument, Command, InvalidArgumentError, Option } from "commander";
import type { DevTokenKind } from "../identity/dev-issuer.js";
import type { ApprovalsDecideOptions, ApprovalsListOptions } from "./approvals.js";
import type { AuditOptions } from "./audit.js";
import type { CheckOptions } from "./check.js";
import type { CliIo } from "./cli-io.js";
import type { DevTokenOptions } from "./dev-token.js";
import type { GatewayOptions } from "./gateway.js";
import type { PolicyTestOptions } from "./policy.js";
import type { PolicyReplayOptions } from "./policy-replay.js";
import type { RevokeOptions } from "./revoke.js";
import type { TrustOptions } from "./trust.js";
import type { SessionIdOptions, SessionOpenOptions } from "./session.js";
import { withIdentityOptions } from "./identity-options.js";
import { addressOption, collect, jsonOption, nonNegativeInt, port, positiveInt, tokenOption } from "./options.js";
import { UsageError } from "./usage-error.js";

const version = (JSON.parse(readFileSync(new URL("../../package.json", import.meta.url), "utf8")) as { version: string }).version;

/** What a run of the program resolved to: the exit code its command chose (-1: keep running). */
export interface ProgramRun {
  readonly io: CliIo;
  code: number;
}

const EXIT_STATUS = `Exit status: 0 done (ALLOW), 3 DENY (check, session open), 1 runtime failure (e.g. no PDP
answers, the audit chain is broken), 2 usage or configuration error, or a request the PDP refuses
as given (bad credentials, not permitted).`;

const ADDRESS_HELP = `Client commands (check, session, revoke, approvals, audit) dial --address HOST:PORT, else
MCP_PDP_ADDRESS, else the host and port the PDP is configured with (MCP_PDP_HOST/MCP_PDP_PORT or the
config file in MCP_PDP_CONFIG), else 127.0.0.1:50051. Commands that print a table take --json.`;

const AUDIT_FILTERS = `Filters: --since/--until take 1h, 30m, 2d or an ISO-8601 time; --decision allow|deny; --reason a
reason code (e.g. TOOL_NOT_GRANTED).`;

/** `allow` or `deny`, in any case. */
function decision(value: string): "allow" | "deny" {
  const d = value.toLowerCase();
  if (d !== "allow" && d !== "deny") throw new InvalidArgumentError("Allowed choices are allow, deny.");
  return d;
}

/** A share, 0 to 1. */
function share(value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isFinite(n) || n < 0 || n > 1) throw new InvalidArgumentError("Must be a number from 0 to 1.");
  return n;
}

/** The full command name for hints, e.g. `mcp-pdp session open`. */
function fullName(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return names.join(" ");
}

/**
 * Wraps an action: stores the exit code it resolves to, and turns a {@link UsageError} into a
 * commander error (message, hint, exit 2) of the command it came from.
 */
function act<P extends unknown[]>(run: ProgramRun, fn: (...args: P) => Promise<number> | number) {
  return async (...args: P): Promise<void> => {
    try {
      run.code = await fn(...args);
    } catch (err) {
      // commander passes the command itself last
      const cmd = args[args.length - 1] as Command;
      if (err instanceof UsageError) cmd.error(`error: ${err.message}`, { exitCode: 2, code: "mcp-pdp.usage" });
      throw err;
    }
  };
}

/** The audit filter options. */
function withAuditFilters(cmd: Command): Command {
  return cmd
    .option("--since <time>", "records from this time on (1h, 30m, 2d, or ISO-8601)")
    .option("--until <time>", "records up to this time")
    .option("--session <id>", "of this session")
    .option("--user <sub>", "of this user (subject)")
    .option("--issuer <iss>", "of users from this issuer")
    .option("--agent <id>", "of this agent workload")
    .option("--client <id>", "through this MCP client")
    .option("--server <uri>", "at this MCP server")
    .option("--tool <name>", "about this tool")
    .addOption(new Option("--decision <decision>", "allow or deny").argParser(decision))
    .option("--reason <code>", "with this reason code")
    .option("--policy <id>", "determined by this policy")
    .option("--kind <kind>", "of this kind (authorize, open_session, filter_tools, …)")
    .option("--shadow-disagrees", "only where the shadow policy set (policies.shadowDir) disagreed with the live answer")
    .option("--first-seen", "only decisions on a first-seen relation (third-party trust expansion)");
}

/** The connection options of every audit command. */
function withAuditConnection(cmd: Command): Command {
  return cmd
    .addOption(addressOption())
    .addOption(tokenOption())
    .option("--ca <file>", "dial with TLS, trusting this CA certificate (PEM)");
}

/** Builds the `mcp-pdp` program; its actions record their exit code in `run`. */
export function createProgram(run: ProgramRun): Command {
  const program = new Command("mcp-pdp")
    .description("mcp-pdp — a policy decision point for MCP deployments")
    .version(version, "-V, --version", "print the version")
    .addHelpText("after", `\n${ADDRESS_HELP}\n\n${EXIT_STATUS}\n`);

  program.command("serve").description("start the PDP: gRPC, and HTTP for AuthZEN (default: development mode on 127.0.0.1:50051 and :50052)")
    .option("--config <file>", "a JSON config file (default: MCP_PDP_CONFIG, else the embedded defaults)")
    .option("--host <host>", "listen on this host (wins over the config file and MCP_PDP_HOST)")
    .addOption(new Option("--port <port>", "listen on this port, 0 for any free one (wins over the config file and MCP_PDP_PORT)").argParser(port))
    .addOption(
      new Option("--http-port <port>", "serve HTTP (AuthZEN) on this port, 0 for any free one (wins over the config file and MCP_PDP_HTTP_PORT)").argParser(port),
    )
    .addHelpText("after", "\nExit status: 2 invalid configuration, 1 cannot start (e.g. invalid policies); runs until SIGTERM/SIGINT.")
    .action(
      act(run, async (o: { config?: string; host?: string; port?: number; httpPort?: number }) => {
        const { serve } = await import("../main.js");
        const overrides = {
          ...(o.host !== undefined && { host: o.host }),
          ...(o.port !== undefined && { port: o.port }),
          ...(o.httpPort !== undefined && { http: { port: o.httpPort } }),
        };
        await serve({ ...(o.config !== undefined && { file: o.config }), overrides });
        return -1;
      }),
    );

  program.command("gateway").description("front an existing MCP server (stdio command or HTTP URL) with the PDP, for stock MCP clients")
    .option("--upstream-command <cmd>", 'a stdio MCP server to spawn, e.g. "npx -y @modelcontextprotocol/server-everything stdio"')
    .option("--upstream-url <url>", "a Streamable HTTP MCP server instead")
    .option("--host <host>", "listen on this host (default 127.0.0.1)")
    .addOption(new Option("--port <port>", "listen on this port (default 8080; 0 for any free one)").argParser(port))
    .option("--pdp <host:port>", "the PDP to ask (default: MCP_PDP_ADDRESS, else 127.0.0.1:50051)")
    .option("--config <file>", "a JSON gateway config file (see README \"Gateway\")")
    .option("--resource <uri>", "this gateway's canonical URI (token audience; default http://HOST:PORT/mcp)")
    .option("--purpose <purpose>", "the purpose when a client sends no X-Task-Purpose (default research)")
    .addOption(new Option("--list-denied <mode>", "hide refused tools from tools/list (default), or show them marked with the refusal").choices(["hide", "show"]))
    .addOption(new Option("--log-level <level>", "operational log level").choices(["fatal", "error", "warn", "info", "debug", "trace", "silent"]).default("info"))
    .addHelpText("after", "\nFlags win over --config. Runs until SIGTERM/SIGINT. Exit status: 2 usage or configuration error, 1 cannot start.")
    .action(act(run, async (o: GatewayOptions) => (await import("./gateway.js")).gateway(o, run.io)));

  withIdentityOptions(
    program
      .command("check")
      .description("ask the PDP one Authorize question and print the decision")
      .option("--tool <name>", "the tool (or prompt) to ask about")
      .addOption(new Option("--action <action>", "what is asked").choices(["call_tool", "read_resource", "get_prompt"]).default("call_tool"))
      .option("--resource <uri>", "the resource (read_resource, or a tool's target)")
      .option("--args <json>", "the call's arguments, a JSON object")
      .option("--session <id>", "ask within this session (default: open one for just this item)")
      .option("--no-session", "ask without a session"),
  )
    .addHelpText(
      "after",
      "\nWithout --session it first opens a session for just this item (printed), as an MCP server does for a\ntask. Exit status: 0 ALLOW, 3 DENY, 1 no PDP answers, 2 usage error.",
    )
    .action(act(run, async (o: CheckOptions) => (await import("./check.js")).check(o, run.io)));

  const session = program.command("session").description("open, read or end a delegated session");
  withIdentityOptions(
    session
      .command("open")
      .description("open a session for a task, with an explicit grant")
      .addOption(new Option("--tool <name>", "a tool to grant (repeatable)").argParser(collect))
      .addOption(new Option("--resource <uri>", "a resource to grant (repeatable)").argParser(collect))
      .addOption(new Option("--prompt <name>", "a prompt to grant (repeatable)").argParser(collect))
      .addOption(new Option("--ttl <seconds>", "lifetime (default and cap: the PDP's sessions config)").argParser(positiveInt)),
  )
    .addHelpText("after", "\nExit status: 0 opened, 3 refused.")
    .action(act(run, async (o: SessionOpenOptions) => (await import("./session.js")).sessionOpen(o, run.io)));
  session.command("get <id>").description("show a session: binding, grant, history, state (JSON)")
    .addOption(addressOption())
    .option("--caller-token <jwt>", "the PEP's own bearer credential")
    .addOption(jsonOption("one line of JSON instead of indented JSON"))
    .action(act(run, async (id: string, o: SessionIdOptions) => (await import("./session.js")).sessionGet(id, o, run.io)));
  session.command("end <id>").description("end a session now (the task is done)")
    .addOption(addressOption())
    .option("--caller-token <jwt>", "the PEP's own bearer credential")
    .addOption(jsonOption())
    .action(act(run, async (id: string, o: SessionIdOptions) => (await import("./session.js")).sessionEnd(id, o, run.io)));

  program.command("revoke").description("revoke a session, agent, user, client or token, on every replica (operator)")
    .option("--session <id>", "end this session")
    .option("--agent <spiffe-id>", "end this agent's sessions, refuse its tokens issued until now")
    .option("--user <issuer#subject>", "the same for a user, e.g. https://login.example.org#alice")
    .option("--client <id>", "the same for an MCP client")
    .option("--jti <token-id>", "refuse this one token")
    .option("--reason <text>", "why (kept in the decision record)")
    .addOption(addressOption())
    .addOption(tokenOption())
    .addOption(jsonOption())
    .addHelpText("after", "\nGive exactly one of --session, --agent, --user, --client, --jti.")
    .action(act(run, async (o: RevokeOptions) => (await import("./revoke.js")).revoke(o, run.io)));

  const approvals = program.command("approvals").description("human approvals of high-impact calls (operator console)");
  approvals.command("list").description("list approvals (a table, or NDJSON with --json)")
    .addOption(new Option("--state <state>", "only in this state").choices(["pending", "approved", "rejected", "used", "expired"]))
    .option("--tool <name>", "only for this tool")
    .option("--user <sub>", "only for this user (subject)")
    .option("--session <id>", "only in this session")
    .addOption(addressOption())
    .addOption(tokenOption())
    .addOption(jsonOption("NDJSON instead of a table"))
    .action(act(run, async (o: ApprovalsListOptions) => (await import("./approvals.js")).approvalsList(o, run.io)));
  for (const verdict of ["approve", "reject"] as const)
    approvals.command(`${verdict} <id>`).description(`${verdict} a pending approval, as yourself (policy decides whether you may)`)
      .option("--approver-token <jwt>", "your own token (audience: the PDP)")
      .option("--dev-approver <sub>", "mint a development approver token for this subject instead")
      .option("--comment <text>", verdict === "reject" ? "why (required)" : "a note")
      .addOption(addressOption())
      .addOption(tokenOption())
      .addOption(jsonOption())
      .action(act(run, async (id: string, o: ApprovalsDecideOptions) => (await import("./approvals.js")).approvalsDecide(verdict, id, o, run.io)));

  const policy = program.command("policy").description("check policies and run their test cases");
  policy.command("validate [dir]").description("parse and validate every file in strict mode against the schema")
    .addHelpText("after", "\nDIR holds schema.cedarschema, policies/, entities/ (default: the bundled cedar/).\nExit status: 0 valid, 1 invalid (every problem as file:line [policy @id] message — help).")
    .action(act(run, async (dir: string | undefined) => (await import("./policy.js")).policyValidate(dir, run.io)));
  policy.command("test [dir]").description("validate, then run the decision cases in DIR/tests/*.json")
    .addOption(new Option("--json", "print a JSON report").conflicts("junit"))
    .option("--junit <file>", "also write JUnit XML to FILE")
    .addHelpText("after", "\nCase format: docs/policies.md. Exit status: 0 every case passes, 1 invalid policies or a failing case.")
    .action(act(run, async (dir: string | undefined, o: PolicyTestOptions) => (await import("./policy.js")).policyTest(dir, o, run.io)));

  policy.command("diff <a> <b>").description("policies added, removed and changed between two sets (by @id), with the text of each change")
    .addOption(jsonOption())
    .addHelpText("after", "\nBoth sets are validated first. Other files (schema, entities, definitions) are compared file by file.\nExit status: 0 (whether or not they differ), 1 a set does not load.")
    .action(act(run, async (a: string, b: string, o: { json?: boolean }) => (await import("./policy.js")).policyDiff(a, b, o, run.io)));
  withAuditFilters(
    policy
      .command("replay")
      .description("evaluate recorded decisions again under a candidate policy set; print the flips")
      .requiredOption("--candidate <dir>", "the candidate policy directory")
      .option("--input <file>", "records from an NDJSON file (`audit export`; - for stdin)")
      .option("--redis <url>", "records from the Redis audit stream (and control versions from its policy archive)")
      .option("--key-prefix <prefix>", "the PDP's Redis key prefix (default mcp-pdp:)")
      .option("--stream <name>", "the audit stream's name (default decisions)")
      .addOption(new Option("--baseline <dir>", "a policy directory whose version can serve as control (repeatable)").argParser(collect))
      .option("--from <time>", "the same as --since")
      .option("--to <time>", "the same as --until")
      .addOption(new Option("--max-flips <n>", "exit 1 when more decisions than N flip").argParser(nonNegativeInt))
      .addOption(new Option("--samples <n>", "decision ids shown per group").argParser(positiveInt))
      .addOption(new Option("--workers <n>", "worker threads, each with its own engines (default: the cores, at most 4; 1: this thread)").argParser(positiveInt))
      .addOption(new Option("--control-sample <share>", "of the records the candidate cannot change, evaluate this share (0–1) as the control (default 1: all)").argParser(share))
      .addOption(jsonOption("one JSON report")),
  )
    .addHelpText(
      "after",
      `\nEach recorded policy decision is evaluated under the candidate and, as a control, under the version it was\nmade with (--baseline sets, or the archive with --redis); a control that does not reproduce the record is\nDRIFT. Records without replay facts are counted as not replayable, never guessed. Progress on stderr.\n${AUDIT_FILTERS}\nExit status: 0, 1 flips exceed --max-flips (or the candidate does not load), 2 usage error.`,
    )
    .action(act(run, async (o: PolicyReplayOptions) => (await import("./policy-replay.js")).policyReplay(o, run.io)));

  const dev = program.command("dev").description("development helpers");
  dev.command("token").description("mint a DEVELOPMENT token (trusted in development mode only)")
    .addArgument(new Argument("<kind>", "user, workload or caller").choices(["user", "workload", "caller"]))
    .option("--sub <subject>", "the subject")
    .addOption(new Option("--aud <audience>", "an audience (repeatable)").argParser(collect))
    .option("--client <id>", "client_id (user tokens)")
    .addOption(new Option("--scope <scope>", "a scope (repeatable)").argParser(collect))
    .addOption(new Option("--ttl <seconds>", "lifetime").argParser(positiveInt))
    .option("--act <spiffe-id>", "an RFC 8693 act claim (the agent acting for the user)")
    .action(act(run, async (kind: DevTokenKind, o: DevTokenOptions) => (await import("./dev-token.js")).devToken(kind, o, run.io)));

  const trust = program.command("trust").description("third-party trust expansion (docs/trust-expansion.md)");
  trust
    .command("report")
    .description("per user, agent and server: clients, servers, IdPs, scopes and brokered paths now versus at the start of the window, what was added when and by which decision; biggest expansions first")
    .option("--since <time>", "the window's start (30d, 12h, or ISO-8601)", "30d")
    .option("--user <sub>", "only this user (subject, or <issuer>#<subject>)")
    .option("--agent <id>", "only this agent workload")
    .option("--file <ndjson>", "read an `audit export` file (- for stdin) instead of the PDP's audit")
    .addOption(jsonOption("one JSON object instead of text"))
    .addOption(addressOption())
    .addOption(tokenOption())
    .option("--ca <file>", "dial with TLS, trusting this CA certificate (PEM)")
    .action(act(run, async (o: TrustOptions) => (await import("./trust.js")).trustReport(o, run.io)));

  const audit = program.command("audit").description("the decision audit: query, tail, get, explain, export, verify");
  withAuditConnection(withAuditFilters(audit.command("query").description("matching records, newest first (a table, or NDJSON with --json)")))
    .addOption(new Option("--limit <n>", "at most N records").argParser(positiveInt).default(50))
    .addOption(jsonOption("NDJSON instead of a table"))
    .addHelpText("after", `\n${AUDIT_FILTERS}`)
    .action(act(run, async (o: AuditOptions) => (await import("./audit.js")).auditQuery(o, run.io)));
  withAuditConnection(withAuditFilters(audit.command("tail").description("the newest records, oldest first; --follow keeps printing new ones")))
    .addOption(new Option("--limit <n>", "start with the newest N").argParser(positiveInt).default(20))
    .option("-f, --follow", "keep polling for new records")
    .addOption(new Option("--interval <ms>", "poll every MS milliseconds").argParser(positiveInt).default(1000))
    .addOption(jsonOption("NDJSON instead of a table"))
    .addHelpText("after", `\n${AUDIT_FILTERS}`)
    .action(act(run, async (o: AuditOptions) => (await import("./audit.js")).auditTail(o, run.io)));
  withAuditConnection(audit.command("get <decision-id>").description("one record"))
    .addOption(jsonOption())
    .action(act(run, async (id: string, o: AuditOptions) => (await import("./audit.js")).auditGet(id, o, run.io)));
  withAuditConnection(audit.command("explain <decision-id>").description("a record with its determining policies' text at its version"))
    .addOption(jsonOption())
    .action(act(run, async (id: string, o: AuditOptions) => (await import("./audit.js")).auditExplain(id, o, run.io)));
  withAuditConnection(withAuditFilters(audit.command("export").description("every matching record as NDJSON (stored form, hash-checkable)")))
    .addHelpText("after", `\n${AUDIT_FILTERS}`)
    .action(act(run, async (o: AuditOptions) => (await import("./audit.js")).auditExport(o, run.io)));
  withAuditConnection(audit.command("verify").description("check the hash chain; exit 1 naming the first bad record"))
    .addOption(jsonOption())
    .action(act(run, async (o: AuditOptions) => (await import("./audit.js")).auditVerify(o, run.io)));

  configure(program, run.io);
  return program;
}

/** The same output, error and hint settings on every command of the tree. */
function configure(cmd: Command, io: CliIo): void {
  cmd
    .exitOverride()
    .configureOutput({ writeOut: io.out, writeErr: io.err, outputError: (text, write) => write(text) })
    .showSuggestionAfterError(true)
    .showHelpAfterError(`(run \`${fullName(cmd)} --help\` for usage)`);
  for (const sub of cmd.commands) configure(sub, io);
}
