/**
 * The CLI as a new user meets it: --version, help on every command, and usage errors that exit 2
 * with a hint. Drives the real bin/mcp-pdp.js; no PDP needed.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { before, test } from "node:test";
import { packageRoot } from "../../src/config/load-config.js";
import { assertBuilt, cli } from "./run-cli.js";

before(assertBuilt);

const version = (JSON.parse(readFileSync(path.join(packageRoot, "package.json"), "utf8")) as { version: string }).version;

/** Every command and subcommand the CLI has. */
const COMMANDS: readonly string[][] = [
  ["serve"],
  ["check"],
  ["session"],
  ["session", "open"],
  ["session", "get"],
  ["session", "end"],
  ["revoke"],
  ["approvals"],
  ["approvals", "list"],
  ["approvals", "approve"],
  ["approvals", "reject"],
  ["policy"],
  ["policy", "validate"],
  ["policy", "test"],
  ["dev"],
  ["dev", "token"],
  ["audit"],
  ["audit", "query"],
  ["audit", "tail"],
  ["audit", "get"],
  ["audit", "explain"],
  ["audit", "export"],
  ["audit", "verify"],
  ["trust"],
  ["trust", "report"],
];

/** Runs `jobs` with at most `n` at a time (each is a child process). */
async function limited<T>(n: number, jobs: (() => Promise<T>)[]): Promise<T[]> {
  const results: T[] = [];
  let next = 0;
  await Promise.all(
    Array.from({ length: n }, async () => {
      while (next < jobs.length) {
        const i = next++;
        results[i] = await jobs[i]!();
      }
    }),
  );
  return results;
}

test("--version and -V print the package version, exit 0", { timeout: 300_000 }, async () => {
  for (const flag of ["--version", "-V"]) {
    const r = await cli([flag]);
    assert.equal(r.code, 0, r.err);
    assert.equal(r.out, `${version}\n`);
    assert.equal(r.err, "");
  }
});

test("no arguments, help, -h and --help: the command list on stdout, exit 0", { timeout: 300_000 }, async () => {
  for (const args of [[], ["help"], ["-h"], ["--help"]]) {
    const r = await cli(args);
    assert.equal(r.code, 0, `${args.join(" ")}: ${r.err}`);
    assert.equal(r.err, "", args.join(" "));
    assert.match(r.out, /^Usage: mcp-pdp /, args.join(" "));
    for (const c of ["serve", "check", "session", "revoke", "approvals", "policy", "dev", "audit"]) assert.match(r.out, new RegExp(`^  ${c}\\b`, "m"), `${args.join(" ")} lists ${c}`);
    assert.match(r.out, /MCP_PDP_ADDRESS/);
  }
});

test("-h and --help on every command and subcommand: its usage on stdout, exit 0", { timeout: 600_000 }, async () => {
  const runs = await limited(
    3,
    COMMANDS.flatMap((cmd) => ["-h", "--help"].map((flag) => async () => ({ cmd, flag, r: await cli([...cmd, flag]) }))),
  );
  for (const { cmd, flag, r } of runs) {
    const name = `${cmd.join(" ")} ${flag}`;
    assert.equal(r.code, 0, `${name}: ${r.err}`);
    assert.equal(r.err, "", name);
    assert.match(r.out, new RegExp(`^Usage: mcp-pdp ${cmd.join(" ")}\\b`), name);
  }
  // `help COMMAND` too, and the client commands document the address setting.
  const help = await cli(["help", "check"]);
  assert.equal(help.code, 0);
  assert.match(help.out, /^Usage: mcp-pdp check\b/);
  assert.match(help.out, /--address <host:port>[\s\S]*env: MCP_PDP_ADDRESS/);
  const serve = (await cli(["serve", "--help"])).out;
  for (const option of ["--host <host>", "--port <port>", "--http-port <port>", "--config <file>"]) assert.ok(serve.includes(option), `serve --help lists ${option}`);
});

test("unknown commands and options: exit 2, the error and a hint on stderr, nothing on stdout", { timeout: 300_000 }, async () => {
  const cases: [string[], RegExp[]][] = [
    [["frobnicate"], [/unknown command 'frobnicate'/, /mcp-pdp --help/]],
    [["sesion", "open"], [/unknown command 'sesion'/, /Did you mean session\?/]],
    [["session", "opne"], [/unknown command 'opne'/, /Did you mean open\?/, /mcp-pdp session --help/]],
    [["check", "--tol", "x"], [/unknown option '--tol'/, /Did you mean --tool\?/, /mcp-pdp check --help/]],
    [["audit", "query", "--sinse", "1h"], [/unknown option '--sinse'/, /Did you mean --since\?/]],
    [["serve", "--prot", "1"], [/unknown option '--prot'/, /Did you mean --port\?/]],
    [["--verison"], [/unknown option '--verison'/, /Did you mean --version\?/]],
    [["check", "--tool"], [/option '--tool <name>' argument missing/]],
    [["session", "get"], [/missing required argument 'id'/, /mcp-pdp session get --help/]],
    [["session", "get", "a", "b"], [/too many arguments/]],
    [["dev", "token", "nobody"], [/'nobody' is invalid/, /user, workload, caller/]],
    [["audit", "query", "--decision", "maybe"], [/allow, deny/]],
    [["serve", "--port", "70000"], [/--port/, /0.*65535/]],
    [["revoke"], [/exactly one of --session, --agent, --user, --client, --jti/]],
    [["revoke", "--user", "no-hash"], [/ISSUER#SUBJECT/]],
  ];
  for (const [args, patterns] of cases) {
    const r = await cli(args);
    const name = args.join(" ");
    assert.equal(r.code, 2, `${name}: exit ${r.code}\n${r.err}`);
    assert.equal(r.out, "", name);
    for (const p of patterns) assert.match(r.err, p, name);
  }
});

test("a command group without its subcommand: its usage on stderr, exit 2", { timeout: 300_000 }, async () => {
  for (const group of ["session", "approvals", "policy", "dev", "audit"]) {
    const r = await cli([group]);
    assert.equal(r.code, 2, `${group}: ${r.err}`);
    assert.equal(r.out, "", group);
    assert.match(r.err, new RegExp(`^Usage: mcp-pdp ${group}\\b`), group);
  }
});
