/**
 * The operator/newcomer commands against a real PDP: check, session, revoke, dev token, approvals.
 * Drives the real bin/mcp-pdp.js. Every assertion on a run carries its stderr, so a failure under
 * load says why (a `session end` once printed nothing: the old 5 s call deadline, connection
 * included, ran out on a busy machine; CLI calls now allow 30 s).
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { startTestPdp, type TestPdp } from "../support/pdp.js";
import { assertBuilt, cli as runCli, type CliRun } from "./run-cli.js";

let pdp: TestPdp;

const cli = (...args: string[]): Promise<CliRun> => runCli(args);

before(async () => {
  assertBuilt();
  pdp = await startTestPdp();
});
after(() => pdp?.close());

/** The run's output, for assertion messages. */
const said = (r: CliRun) => `exit ${r.code}\nstdout: ${r.out}\nstderr: ${r.err}`;

test("check --dev: a first ALLOW (exit 0) and a first explained DENY (exit 3)", { timeout: 300_000 }, async () => {
  const allow = await cli("check", "--dev", "--tool", "search_documents", "--address", pdp.address);
  assert.equal(allow.code, 0, allow.err);
  assert.match(allow.out, /session \S{43} opened/);
  assert.match(allow.out, /^ALLOW {2}ALLOWED/m);
  assert.match(allow.out, /because tool-allowlist-research: /);
  const deny = await cli("check", "--dev", "--tool", "deploy_production", "--address", pdp.address);
  assert.equal(deny.code, 3, said(deny));
  assert.match(deny.out, /not granted: deploy_production \(POLICY_DENIED\)\n {4}because production-write-requires-approval: [^\n]*\n {4}because purpose-production-tools: /);
  assert.match(deny.out, /^DENY {2}TOOL_NOT_GRANTED/m);
  const json = await cli("check", "--dev", "--no-session", "--tool", "search_documents", "--json", "--address", pdp.address);
  assert.equal(json.code, 3, said(json));
  assert.equal(JSON.parse(json.out).reasonCode, "SESSION_REQUIRED");
});

test("session open / get / end, and revoke", { timeout: 300_000 }, async () => {
  const opened = await cli("session", "open", "--dev", "--tool", "search_documents", "--tool", "read_document", "--json", "--address", pdp.address);
  assert.equal(opened.code, 0, said(opened));
  const { sessionId } = JSON.parse(opened.out) as { sessionId: string };
  const got = await cli("session", "get", sessionId, "--json", "--address", pdp.address);
  assert.equal(got.code, 0, said(got));
  assert.deepEqual(JSON.parse(got.out).grantedTools, ["search_documents", "read_document"]);
  const inSession = await cli("check", "--dev", "--session", sessionId, "--tool", "read_document", "--address", pdp.address);
  assert.equal(inSession.code, 0, said(inSession));
  const revoked = await cli("revoke", "--session", sessionId, "--address", pdp.address);
  assert.equal(revoked.code, 0, said(revoked));
  assert.match(revoked.out, /revoked session .* 1 session\(s\) ended/);
  const after = await cli("check", "--dev", "--session", sessionId, "--tool", "read_document", "--address", pdp.address);
  assert.equal(after.code, 3, said(after));
  assert.match(after.out, /SESSION_REVOKED/);
  const otherRun = await cli("session", "open", "--dev", "--tool", "search_documents", "--json", "--address", pdp.address);
  assert.equal(otherRun.code, 0, said(otherRun));
  const other = JSON.parse(otherRun.out) as { sessionId: string };
  const ended = await cli("session", "end", other.sessionId, "--address", pdp.address);
  assert.equal(ended.out, "session ended\n", said(ended));
  assert.equal(ended.code, 0, said(ended));
  const again = await cli("session", "end", other.sessionId, "--json", "--address", pdp.address);
  assert.deepEqual(JSON.parse(again.out), { sessionId: other.sessionId, ended: false }, said(again));
  const unknown = await cli("session", "get", "no-such-session", "--address", pdp.address);
  assert.equal(unknown.code, 1, said(unknown));
  assert.match(unknown.err, /^mcp-pdp: /);
  assert.equal((await cli("revoke", "--user", "no-hash", "--address", pdp.address)).code, 2);
});

test("dev token mints a verifiable development token; usage errors exit 2", { timeout: 300_000 }, async () => {
  const t = await cli("dev", "token", "user", "--sub", "zoe", "--scope", "docs.read");
  assert.equal(t.code, 0, said(t));
  const payload = JSON.parse(Buffer.from(t.out.trim().split(".")[1]!, "base64url").toString());
  assert.equal(payload.sub, "zoe");
  assert.equal(payload.scope, "docs.read");
  assert.equal((await cli("dev", "token", "nobody")).code, 2);
  assert.equal((await cli("frobnicate")).code, 2);
});

test("approvals: a production deploy needs one, an approver approves it, the call goes through once", { timeout: 300_000 }, async () => {
  const bot = ["--agent", "spiffe://dev.mcp-pdp.local/agent/release-bot", "--purpose", "release", "--scope", "deploy.production"];
  const opened = JSON.parse((await cli("session", "open", "--dev", ...bot, "--tool", "deploy_production", "--json", "--address", pdp.address)).out);
  const ask = () => cli("check", "--dev", ...bot, "--session", opened.sessionId, "--tool", "deploy_production", "--args", '{"version":"9"}', "--json", "--address", pdp.address);
  const first = JSON.parse((await ask()).out);
  assert.equal(first.reasonCode, "APPROVAL_REQUIRED");
  const id = first.obligations[0].approval as string;
  const listed = await cli("approvals", "list", "--state", "pending", "--address", pdp.address);
  assert.match(listed.out, new RegExp(`^${id} +pending +deploy_production`, "m"));
  const self = await cli("approvals", "approve", id, "--dev-approver", "alice", "--address", pdp.address);
  assert.equal(self.code, 2, said(self));
  assert.match(self.err, /no-self-approval/);
  const ok = await cli("approvals", "approve", id, "--dev-approver", "bob", "--comment", "ship it", "--address", pdp.address);
  assert.equal(ok.code, 0, said(ok));
  assert.match(ok.out, /approved .* by https:\/\/dev-issuer\.mcp-pdp\.invalid#bob/);
  const second = await ask();
  assert.equal(second.code, 0, said(second));
  assert.equal(JSON.parse((await ask()).out).reasonCode, "APPROVAL_REQUIRED");
  const rejectNoComment = await cli("approvals", "reject", "x", "--dev-approver", "bob", "--address", pdp.address);
  assert.equal(rejectNoComment.code, 2, said(rejectNoComment));
  assert.match(rejectNoComment.err, /reject needs --comment/);
});
