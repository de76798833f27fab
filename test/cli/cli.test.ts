/** The operator/newcomer commands against a real PDP: check, session, revoke, dev token. */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import path from "node:path";
import { after, before, test } from "node:test";
import { promisify } from "node:util";
import { packageRoot } from "../../src/config/load-config.js";
import { startTestPdp, type TestPdp } from "../support/pdp.js";

const run = promisify(execFile);
let pdp: TestPdp;

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, ["--import", "tsx", path.join(packageRoot, "src/cli/main.ts"), ...args], { cwd: packageRoot });
    return { code: 0, out: stdout, err: stderr };
  } catch (e) {
    const x = e as { code: number; stdout: string; stderr: string };
    return { code: x.code, out: x.stdout, err: x.stderr };
  }
}

before(async () => {
  pdp = await startTestPdp();
});
after(() => pdp.close());

test("check --dev: a first ALLOW (exit 0) and a first explained DENY (exit 3)", async () => {
  const allow = await cli("check", "--dev", "--tool", "search_documents", "--address", pdp.address);
  assert.equal(allow.code, 0, allow.err);
  assert.match(allow.out, /session \S{43} opened/);
  assert.match(allow.out, /^ALLOW {2}ALLOWED/m);
  assert.match(allow.out, /because tool-allowlist-research: /);
  const deny = await cli("check", "--dev", "--tool", "deploy_production", "--address", pdp.address);
  assert.equal(deny.code, 3);
  assert.match(deny.out, /not granted: deploy_production \(POLICY_DENIED\)\n {4}because production-write-requires-approval: [^\n]*\n {4}because purpose-production-tools: /);
  assert.match(deny.out, /^DENY {2}TOOL_NOT_GRANTED/m);
  const json = await cli("check", "--dev", "--no-session", "--tool", "search_documents", "--json", "--address", pdp.address);
  assert.equal(json.code, 3);
  assert.equal(JSON.parse(json.out).reasonCode, "SESSION_REQUIRED");
});

test("session open / get / end, and revoke", async () => {
  const opened = await cli("session", "open", "--dev", "--tool", "search_documents", "--tool", "read_document", "--json", "--address", pdp.address);
  assert.equal(opened.code, 0, opened.err);
  const { sessionId } = JSON.parse(opened.out) as { sessionId: string };
  const got = await cli("session", "get", sessionId, "--json", "--address", pdp.address);
  assert.deepEqual(JSON.parse(got.out).grantedTools, ["search_documents", "read_document"]);
  const inSession = await cli("check", "--dev", "--session", sessionId, "--tool", "read_document", "--address", pdp.address);
  assert.equal(inSession.code, 0, inSession.out);
  const revoked = await cli("revoke", "--session", sessionId, "--address", pdp.address);
  assert.equal(revoked.code, 0, revoked.err);
  assert.match(revoked.out, /revoked session .* 1 session\(s\) ended/);
  const after = await cli("check", "--dev", "--session", sessionId, "--tool", "read_document", "--address", pdp.address);
  assert.equal(after.code, 3);
  assert.match(after.out, /SESSION_REVOKED/);
  const other = JSON.parse((await cli("session", "open", "--dev", "--tool", "search_documents", "--json", "--address", pdp.address)).out);
  assert.equal((await cli("session", "end", other.sessionId, "--address", pdp.address)).out, "session ended\n");
  assert.equal((await cli("revoke", "--user", "no-hash", "--address", pdp.address)).code, 2);
});

test("dev token mints a verifiable development token; usage errors exit 2", async () => {
  const t = await cli("dev", "token", "user", "--sub", "zoe", "--scope", "docs.read");
  assert.equal(t.code, 0);
  const payload = JSON.parse(Buffer.from(t.out.trim().split(".")[1]!, "base64url").toString());
  assert.equal(payload.sub, "zoe");
  assert.equal(payload.scope, "docs.read");
  assert.equal((await cli("dev", "token", "nobody")).code, 2);
  assert.equal((await cli("frobnicate")).code, 2);
});

test("approvals: a production deploy needs one, an approver approves it, the call goes through once", async () => {
  const bot = ["--agent", "spiffe://dev.mcp-pdp.local/agent/release-bot", "--purpose", "release", "--scope", "deploy.production"];
  const opened = JSON.parse((await cli("session", "open", "--dev", ...bot, "--tool", "deploy_production", "--json", "--address", pdp.address)).out);
  const ask = () => cli("check", "--dev", ...bot, "--session", opened.sessionId, "--tool", "deploy_production", "--args", '{"version":"9"}', "--json", "--address", pdp.address);
  const first = JSON.parse((await ask()).out);
  assert.equal(first.reasonCode, "APPROVAL_REQUIRED");
  const id = first.obligations[0].approval as string;
  const listed = await cli("approvals", "list", "--state", "pending", "--address", pdp.address);
  assert.match(listed.out, new RegExp(`^${id} +pending +deploy_production`, "m"));
  const self = await cli("approvals", "approve", id, "--dev-approver", "alice", "--address", pdp.address);
  assert.equal(self.code, 2);
  assert.match(self.err, /no-self-approval/);
  const ok = await cli("approvals", "approve", id, "--dev-approver", "bob", "--comment", "ship it", "--address", pdp.address);
  assert.equal(ok.code, 0, ok.err);
  assert.match(ok.out, /approved .* by https:\/\/dev-issuer\.mcp-pdp\.invalid#bob/);
  const second = await ask();
  assert.equal(second.code, 0, second.out);
  assert.equal(JSON.parse((await ask()).out).reasonCode, "APPROVAL_REQUIRED");
  const rejectNoComment = await cli("approvals", "reject", "x", "--dev-approver", "bob", "--address", pdp.address);
  assert.equal(rejectNoComment.code, 2);
});
