/**
 * `npm run demo` — the one-minute tour. Starts the PDP (embedded defaults: development mode,
 * bundled cedar/, dev issuer, memory store; on a free port) and the example docs MCP server as
 * child processes, then walks the scenarios with the official MCP SDK client and prints each
 * decision. Stops both processes (by pid) and exits 0 when every scenario came out as expected.
 */
import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import type { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPError } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { CallToolResult } from "@modelcontextprotocol/sdk/types.js";
import { createClient } from "../src/grpc/client.js";
import { AdminService } from "../src/gen/mcppdp/v1/admin_pb.js";
import { ApprovalService, Verdict } from "../src/gen/mcppdp/v1/approval_pb.js";
import { DEV_MCP_SERVER_URI, DEV_PDP_AUDIENCE, mintDevToken } from "../src/identity/dev-issuer.js";
import type { PepDecision } from "../src/pep/index.js";
import { connectDocsClient, decisionOf, taskSessionOf, textOf } from "../examples/docs-server/docs-client.js";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const children: ChildProcess[] = [];
const color = process.stdout.isTTY && !process.env.NO_COLOR;
const paint = (code: string, s: string) => (color ? `\x1b[${code}m${s}\x1b[0m` : s);
const green = (s: string) => paint("32;1", s);
const red = (s: string) => paint("31;1", s);
const dim = (s: string) => paint("2", s);
const bold = (s: string) => paint("1", s);

/** Starts a child under tsx and resolves with the first match of `ready` on its stderr. */
function start(name: string, script: string, env: Record<string, string>, ready: RegExp): Promise<RegExpExecArray> {
  const child = spawn(process.execPath, ["--no-turbo-inline-js-wasm-calls", "--import", "tsx", path.join(root, script), ...(name === "pdp" ? ["serve"] : [])], {
    cwd: root,
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  children.push(child);
  let err = "";
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${name} did not start within 30 s:\n${err}`)), 30_000);
    child.stderr!.on("data", (d: Buffer) => {
      err += d.toString();
      const m = ready.exec(err);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${code}) before it was ready:\n${err}`));
    });
  });
}

async function stopAll(): Promise<void> {
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) return resolve();
          const kill = setTimeout(() => c.kill("SIGKILL"), 5000);
          c.once("exit", () => {
            clearTimeout(kill);
            resolve();
          });
          c.kill("SIGTERM");
        }),
    ),
  );
}

let failures = 0;
function show(title: string, d: PepDecision | undefined, expect: (d: PepDecision) => boolean, extra?: string): void {
  if (!d) {
    failures++;
    console.log(`  ${red("?")} ${title}: no decision on the result`);
    return;
  }
  const mark = d.allowed ? green("ALLOW") : red("DENY ");
  console.log(`  ${mark} ${bold(d.reasonCode.padEnd(18))} ${title}`);
  if (d.message) console.log(`        ${d.message}`);
  for (const r of d.reasons) console.log(`        policy ${bold(r.policyId)}: ${r.reason}`);
  if (d.approval) console.log(`        approval ${bold(d.approval.approvalId)} pending until ${d.approval.expiresAt ?? "?"}`);
  if (d.reauthorize) console.log(`        re-authorize: the bound ${bold(d.reauthorize.changed)} changed`);
  if (extra) console.log(`        ${extra}`);
  if (d.decisionId) console.log(dim(`        decision ${d.decisionId} · policy version ${d.policyVersion}`));
  if (!expect(d)) {
    failures++;
    console.log(red("        ^ not what this scenario expects"));
  }
}

async function tool(client: Client, name: string, args: Record<string, unknown>): Promise<{ result: CallToolResult; decision: PepDecision | undefined }> {
  const result = (await client.callTool({ name, arguments: args })) as CallToolResult;
  return { result, decision: decisionOf(result) };
}

const is = (code: string) => (d: PepDecision) => d.reasonCode === code;

async function main(): Promise<void> {
  const t0 = Date.now();
  console.log(bold("mcp-pdp demo — the official MCP client → docs server (PEP) → PDP\n"));
  const pdpReady = await start("pdp", "src/cli/main.ts", { MCP_PDP_PORT: "0", MCP_PDP_DECISION_LOG: "off" }, /"port":(\d+)[^\n]*"msg":"mcp-pdp serving"/);
  const pdpAddress = `127.0.0.1:${pdpReady[1]}`;
  const docsReady = await start("docs-server", "examples/docs-server/main.ts", { DOCS_SERVER_PORT: "0", PDP_ADDRESS: pdpAddress }, /served at (\S+)/);
  const url = docsReady[1]!;
  console.log(dim(`PDP (development mode, bundled cedar/) on ${pdpAddress}; docs server ${DEV_MCP_SERVER_URI} at ${url}\n`));

  const as = async (o: { agent?: string; user?: string; client?: string; purpose?: string; scopes?: string[]; taskId?: string; taskSession?: string }) => {
    const clientId = o.client ?? "dev-client";
    return connectDocsClient(url, {
      userToken: await mintDevToken("user", { clientId, ...(o.user && { subject: o.user }), ...(o.scopes && { scopes: o.scopes }) }),
      workloadToken: await mintDevToken("workload", { subject: `spiffe://dev.mcp-pdp.local/agent/${o.agent ?? "research-assistant"}` }),
      clientId,
      purpose: o.purpose ?? "research",
      ...(o.taskId && { taskId: o.taskId }),
      ...(o.taskSession && { taskSession: o.taskSession }),
    });
  };
  const clients: Client[] = [];
  const connect = async (o: Parameters<typeof as>[0]) => {
    const c = await as(o);
    clients.push(c);
    return c;
  };

  console.log(bold("1. allow — research-assistant, for alice, searches the docs"));
  const assistant = await connect({ taskId: "tour" });
  const search = await tool(assistant, "search_documents", { query: "cedar" });
  show("search_documents", search.decision, (d) => d.allowed, `result: ${textOf(search.result)}`);

  console.log(bold("\n2. tools/list filtered — what each agent is shown"));
  const listed = (await assistant.listTools()).tools.map((t) => t.name);
  console.log(`  research-assistant sees ${bold(listed.join(", "))} of search_documents, read_document, send_message, deploy_production`);
  const notifierTools = (await (await connect({ agent: "research-notifier", taskId: "list" })).listTools()).tools.map((t) => t.name);
  console.log(`  research-notifier  sees ${bold(notifierTools.join(", "))}`);
  if (listed.includes("send_message") || !notifierTools.includes("send_message")) failures++;

  console.log(bold("\n3. deny with reason — research-assistant tries the tools it was not granted"));
  show("send_message", (await tool(assistant, "send_message", { to: "press@example.org", body: "hello" })).decision, is("TOOL_NOT_GRANTED"));
  show("deploy_production", (await tool(assistant, "deploy_production", { version: "1.4.2" })).decision, (d) => !d.allowed);
  const stranger = await connect({ agent: "stranger", taskId: "stranger" });
  show("search_documents by an unregistered agent", (await tool(stranger, "search_documents", { query: "cedar" })).decision, is("POLICY_DENIED"));

  console.log(bold("\n4. chain denial — research-notifier reads a sensitive document, then tries to send a message"));
  const notifier = await connect({ agent: "research-notifier", taskId: "chain" });
  show("read_document doc-2 (labelled sensitive)", (await tool(notifier, "read_document", { id: "doc-2" })).decision, (d) => d.allowed);
  show("send_message (egress) in the same session", (await tool(notifier, "send_message", { to: "press@example.org", body: "ACME 1.2bn" })).decision, is("POLICY_DENIED"));

  console.log(bold("\n5. revocation mid-session — an operator revokes the task's session"));
  const handle = taskSessionOf(search.result)!;
  const admin = createClient(AdminService, pdpAddress);
  try {
    await admin.revoke({ target: { case: "sessionId", value: handle }, reason: "demo: suspicious activity" });
  } finally {
    admin.close();
  }
  console.log(`  AdminService.Revoke(session ${handle.slice(0, 12)}…)`);
  show("search_documents after the revocation", (await tool(assistant, "search_documents", { query: "cedar" })).decision, is("SESSION_REVOKED"));

  console.log(bold("\n6. context change — another MCP client presents alice's task handle"));
  const owner = await connect({ taskId: "ctx" });
  const ownerHandle = taskSessionOf((await tool(owner, "search_documents", { query: "mcp" })).result)!;
  const intruder = await connect({ client: "other-client", taskSession: ownerHandle });
  show("search_documents from client other-client, same handle", (await tool(intruder, "search_documents", { query: "mcp" })).decision, is("CONTEXT_CHANGED"));

  console.log(bold("\n7. human approval — release-bot deploys to production for alice"));
  const bot = await connect({ agent: "release-bot", purpose: "release", scopes: ["deploy.production"], taskId: "release" });
  const first = await tool(bot, "deploy_production", { version: "1.4.2" });
  if (first.decision?.reasonCode !== "APPROVAL_REQUIRED") {
    show("deploy_production", first.decision, () => true, "(approvals are not available in this PDP build; skipping the rest)");
  } else {
    show("deploy_production 1.4.2", first.decision, is("APPROVAL_REQUIRED"));
    const approvals = createClient(ApprovalService, pdpAddress);
    try {
      const approverToken = await mintDevToken("user", { subject: "bob", audience: DEV_PDP_AUDIENCE });
      await approvals.decideApproval({ approvalId: first.decision.approval!.approvalId, approverToken, verdict: Verdict.APPROVE, comment: "release 1.4.2" });
      console.log(`  bob approves through ApprovalService.DecideApproval`);
    } finally {
      approvals.close();
    }
    const second = await tool(bot, "deploy_production", { version: "1.4.2" });
    show("deploy_production 1.4.2, retried", second.decision, (d) => d.allowed, `result: ${textOf(second.result)}`);
    show("deploy_production 1.4.2, once more", (await tool(bot, "deploy_production", { version: "1.4.2" })).decision, (d) => !d.allowed);
    const noScope = await connect({ agent: "release-bot", purpose: "release", taskId: "no-scope" });
    try {
      await noScope.callTool({ name: "deploy_production", arguments: { version: "1.4.3" } });
      failures++;
      console.log(red("  step-up: expected HTTP 403"));
    } catch (err) {
      const ok = err instanceof StreamableHTTPError && err.code === 403;
      if (!ok) failures++;
      console.log(`  ${red("DENY ")} ${bold("INSUFFICIENT_SCOPE".padEnd(18))} deploy_production with a token lacking deploy.production`);
      console.log(`        HTTP ${ok ? 403 : "?"}: WWW-Authenticate: Bearer error="insufficient_scope", scope="deploy.production", resource_metadata="…"`);
    }
  }

  await Promise.allSettled(clients.map((c) => c.close()));
  console.log(dim(`\n${failures === 0 ? "every scenario came out as expected" : `${failures} scenario(s) did not come out as expected`} (${((Date.now() - t0) / 1000).toFixed(1)} s)`));
}

let code = 0;
try {
  await main();
  code = failures === 0 ? 0 : 1;
} catch (err) {
  console.error(red(`demo failed: ${(err as Error).message}`));
  code = 1;
} finally {
  await stopAll();
}
process.exit(code);
