/**
 * Third-party trust expansion through the transport-neutral core with real parts: the shipped
 * policy (cedar/policies/trust-expansion.cedar) turns a first-seen client's high-risk call into
 * APPROVAL_REQUIRED and the approved call into ALLOW; records carry `firstSeen`; two PDP replicas
 * sharing one Redis agree on what was seen; a refused opening marks nothing.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { DEV_PDP_AUDIENCE, mintDevToken } from "../../src/identity/dev-issuer.js";
import type { DecisionEvent } from "../../src/decision/decision-observer.js";
import { MemoryNoveltyStore } from "../../src/session/memory-novelty-store.js";
import { RedisNoveltyStore } from "../../src/session/redis-novelty-store.js";
import { copyCedar } from "../support/pdp.js";
import { deleteKeysUnder, testClient, uniquePrefix } from "../support/redis.js";
import { ctx, rig, type Rig } from "./support/core-rig.js";

const SERVER = "https://docs.example.com/mcp";
const BROKER = "https://broker.partner.example/mcp";
const NOTIFIER = "spiffe://dev.mcp-pdp.local/agent/research-notifier";

async function open(r: Rig, o: { clientId: string; scopes?: string[]; purpose?: string; server?: string; agent?: string; tools?: string[]; ttlMs?: number }) {
  const serverId = o.server ?? SERVER;
  const userToken = await mintDevToken("user", { audience: serverId, clientId: o.clientId, scopes: o.scopes ?? ["docs.read"] });
  const workloadToken = await mintDevToken("workload", { subject: o.agent ?? NOTIFIER });
  const who = { userToken, workloadToken, clientId: o.clientId, serverId, purpose: o.purpose ?? "research" };
  const opened = await r.core.openSession({ ...who, tools: o.tools ?? ["send_message"], resources: [], prompts: [], ttlMs: o.ttlMs ?? 0 }, ctx());
  const sessionId = opened.value?.session?.id ?? "";
  const call = (tool = "send_message", args: Record<string, string> = { to: "team", text: "hi" }) =>
    r.core.authorize({ ...who, sessionId, action: "tool", tool, resourceUri: "", arguments: args }, ctx());
  return { opened, call };
}

async function approve(r: Rig, approvalId: string) {
  const approverToken = await mintDevToken("user", { subject: "bob", audience: DEV_PDP_AUDIENCE });
  const decided = await r.core.decideApproval({ approvalId, approverToken, verdict: "approved", comment: "ok" }, ctx());
  assert.equal(decided.outcome.allow, true, decided.outcome.message);
}

test("a first-seen client's high-risk call needs an approval, the approved call is allowed, a known client's is not asked", { timeout: 60_000 }, async () => {
  const events: DecisionEvent[] = [];
  const r = await rig(copyCedar(), 64, { novelty: new MemoryNoveltyStore({ windowMs: 3_600_000, maxEntries: 1000 }), observer: { decided: (e) => void events.push(e) } });
  try {
    const first = await open(r, { clientId: "new-desktop-client" });
    assert.equal(first.opened.outcome.allow, true, first.opened.outcome.message);
    const openRecord = r.records.find((x) => x.decisionId === first.opened.decisionId)!;
    assert.deepEqual(openRecord.firstSeen, ["client_for_user", "agent_at_server", "client_at_server", "idp_for_server", "new_scopes"]);
    assert.deepEqual(openRecord.firstSeenScopes, ["docs.read"]);
    assert.deepEqual(events.find((e) => e.kind === "open_session")?.firstSeen, openRecord.firstSeen, "metrics see the kinds");

    const asked = await first.call();
    assert.equal(asked.outcome.reasonCode, "APPROVAL_REQUIRED", asked.outcome.message);
    assert.deepEqual(asked.outcome.reasons.map((x) => x.policyId), ["first-seen-client-high-risk-requires-approval"]);
    const record = r.records.find((x) => x.decisionId === asked.decisionId)!;
    assert.ok(record.firstSeen?.includes("client_for_user"), "the call's record carries firstSeen");
    const approval = asked.outcome.obligations!.find((o) => o.kind === "approval")!;
    assert.equal(approval.kind, "approval");
    await approve(r, approval.approvalId);
    const approved = await first.call();
    assert.equal(approved.outcome.allow, true, approved.outcome.message);

    // The second session of the same client for the same user: seen, no approval asked.
    const second = await open(r, { clientId: "new-desktop-client" });
    const recordOfSecond = r.records.find((x) => x.decisionId === second.opened.decisionId)!;
    assert.equal(recordOfSecond.firstSeen, undefined);
    const allowed = await second.call();
    assert.equal(allowed.outcome.allow, true, allowed.outcome.message);
    assert.equal(r.records.find((x) => x.decisionId === allowed.decisionId)!.firstSeen, undefined);

    // A wider token for the same user and client: new_scopes only, no approval (client known).
    const wider = await open(r, { clientId: "new-desktop-client", scopes: ["docs.read", "mail.send"] });
    const widerRecord = r.records.find((x) => x.decisionId === wider.opened.decisionId)!;
    assert.deepEqual(widerRecord.firstSeen, ["new_scopes"]);
    assert.deepEqual(widerRecord.firstSeenScopes, ["mail.send"]);
    assert.equal((await wider.call()).outcome.allow, true);
  } finally {
    await r.close();
  }
});

test("a refused opening marks nothing: the first allowed one is still first-seen", { timeout: 60_000 }, async () => {
  const r = await rig(copyCedar(), 64, { novelty: new MemoryNoveltyStore({ windowMs: 3_600_000, maxEntries: 1000 }) });
  try {
    // Same client, user, agent and server, refused by policy (no permit for this purpose).
    const refused = await open(r, { clientId: "probe-client", purpose: "shopping" });
    assert.equal(refused.opened.outcome.allow, false);
    assert.equal(refused.opened.outcome.reasonCode, "NO_PERMIT");
    const real = await open(r, { clientId: "probe-client" });
    assert.equal(real.opened.outcome.allow, true, real.opened.outcome.message);
    assert.ok(r.records.find((x) => x.decisionId === real.opened.decisionId)!.firstSeen?.includes("client_for_user"));
    assert.equal((await real.call()).outcome.reasonCode, "APPROVAL_REQUIRED");
  } finally {
    await r.close();
  }
});

test("a brokered path is first seen for an agent on its first session through the broker", { timeout: 60_000 }, async () => {
  const r = await rig(copyCedar(), 64, { novelty: new MemoryNoveltyStore({ windowMs: 3_600_000, maxEntries: 1000 }) });
  try {
    const agent = "spiffe://dev.mcp-pdp.local/agent/research-assistant";
    const first = await open(r, { clientId: "dev-client", server: BROKER, agent, tools: ["partner_search"], ttlMs: 300_000 });
    assert.equal(first.opened.outcome.allow, true, first.opened.outcome.message);
    const rec = r.records.find((x) => x.decisionId === first.opened.decisionId)!;
    assert.ok(rec.firstSeen?.includes("broker_path"), JSON.stringify(rec.firstSeen));
    assert.deepEqual(rec.firstSeenPaths, [`${BROKER} -> acme-logistics`]);
    const call = await first.call("partner_search", { query: "x" });
    assert.ok(r.records.find((x) => x.decisionId === call.decisionId)!.firstSeen?.includes("broker_path"));
    const second = await open(r, { clientId: "dev-client", server: BROKER, agent, tools: ["partner_search"], ttlMs: 300_000 });
    assert.equal(r.records.find((x) => x.decisionId === second.opened.decisionId)!.firstSeen, undefined);
  } finally {
    await r.close();
  }
});

test("two PDP replicas sharing one Redis agree: a client first seen on one is known on the other", { timeout: 60_000 }, async () => {
  const keyPrefix = uniquePrefix("novelty-replicas");
  const [ca, cb] = await Promise.all([testClient(), testClient()]);
  const options = { keyPrefix, windowMs: 3_600_000, maxEntries: 1000 };
  const a = await rig(copyCedar(), 64, { novelty: new RedisNoveltyStore({ ...options, client: ca }) });
  const b = await rig(copyCedar(), 64, { novelty: new RedisNoveltyStore({ ...options, client: cb }) });
  try {
    const onA = await open(a, { clientId: "replica-client" });
    assert.equal((await onA.call()).outcome.reasonCode, "APPROVAL_REQUIRED");
    const onB = await open(b, { clientId: "replica-client" });
    assert.equal(b.records.find((x) => x.decisionId === onB.opened.decisionId)!.firstSeen, undefined);
    const callB = await onB.call();
    assert.equal(callB.outcome.allow, true, callB.outcome.message);
  } finally {
    await a.close();
    await b.close();
    await deleteKeysUnder(ca, keyPrefix);
    cb.disconnect();
    await ca.quit();
  }
});

test("with a probation, a harmless first session does not make the client known: the next session still needs the approval", { timeout: 60_000 }, async () => {
  const r = await rig(copyCedar(), 64, { novelty: new MemoryNoveltyStore({ windowMs: 3_600_000, maxEntries: 1000, probationMs: 600_000 }) });
  try {
    const harmless = await open(r, { clientId: "patient-client", agent: "spiffe://dev.mcp-pdp.local/agent/research-assistant", tools: ["search_documents"] });
    assert.equal(harmless.opened.outcome.allow, true, harmless.opened.outcome.message);
    const second = await open(r, { clientId: "patient-client" });
    assert.ok(r.records.find((x) => x.decisionId === second.opened.decisionId)!.firstSeen?.includes("client_for_user"), "still new within the probation");
    assert.equal((await second.call()).outcome.reasonCode, "APPROVAL_REQUIRED");
  } finally {
    await r.close();
  }
});
