/**
 * One policy snapshot per decision: a reload while a decision waits on the store must never mix
 * two versions in one decision (the tool facts that go into the session history from one version,
 * the evaluation and the recorded version from another). Driven through the transport-neutral core
 * with real parts: the policy manager on a copied cedar/, the verifier with the development issuer,
 * the memory stores — the state reader is the real one, behind a gate the test opens.
 */
import assert from "node:assert/strict";
import { randomUUID } from "node:crypto";
import path from "node:path";
import { test } from "node:test";
import { mintDevToken } from "../../src/identity/dev-issuer.js";
import { copyCedar, editJson } from "../support/pdp.js";
import { ctx, rig, type Rig } from "./support/core-rig.js";

const SERVER = "https://docs.example.com/mcp";
const TOOL = `${SERVER}#search_documents`;

/** Sets the labels of search_documents in the copied cedar dir. */
function setLabels(dir: string, labels: string[]): void {
  editJson(path.join(dir, "entities", "tools.json"), (entities: any[]) => {
    entities.find((e) => e.uid.type === "Tool" && e.uid.id === TOOL).attrs.labels = labels;
  });
}

async function openAndAsk(r: Rig, dir: string, reloads: (string[] | undefined)[]) {
  const userToken = await mintDevToken("user", { audience: SERVER });
  const workloadToken = await mintDevToken("workload");
  const who = { userToken, workloadToken, clientId: "dev-client", serverId: SERVER, purpose: "research" };
  const opened = await r.core.openSession({ ...who, tools: ["search_documents"], resources: [], prompts: [], ttlMs: 0 }, ctx());
  assert.equal(opened.outcome.allow, true, opened.outcome.message);
  const sessionId = opened.value!.session!.id;
  const held = r.hold();
  const pending = r.core.authorize({ ...who, sessionId, action: "tool", tool: "search_documents", resourceUri: "", arguments: { query: "q" } }, ctx());
  await held.reached;
  for (const labels of reloads) {
    if (labels) setLabels(dir, labels);
    else editJson(path.join(dir, "entities", "identities.json"), (e: any[]) => e.push({ uid: { type: "UserGroup", id: `g-${randomUUID()}` }, attrs: {}, parents: [] }));
    assert.equal(r.policies.reload("test").ok, true);
  }
  held.release();
  const decided = await pending;
  const session = (await r.sessions.get(sessionId))!;
  return { decided, session, record: r.records.find((x) => x.decisionId === decided.decisionId)! };
}

test("a reload while Authorize waits on the store: the whole decision is the version it started with", { timeout: 60_000 }, async () => {
  const dir = copyCedar((d) => setLabels(d, ["version-a"]));
  const r = await rig(dir);
  try {
    const versionA = r.policies.current().version;
    const { decided, session, record } = await openAndAsk(r, dir, [["version-b"]]);
    assert.notEqual(r.policies.current().version, versionA, "the reload took effect");
    assert.equal(decided.outcome.allow, true, decided.outcome.message);
    assert.equal(decided.version, versionA);
    assert.equal(record.policyVersion, versionA);
    assert.deepEqual(session.facts.labels, ["version-a"], "the history holds the facts of the version that decided");
  } finally {
    await r.close();
  }
});

test("two reloads while Authorize waits (its snapshot can no longer evaluate): decided again, wholly under the version in force", { timeout: 60_000 }, async () => {
  const dir = copyCedar((d) => setLabels(d, ["version-a"]));
  const r = await rig(dir);
  try {
    const { decided, session, record } = await openAndAsk(r, dir, [["version-b"], ["version-c"]]);
    const versionC = r.policies.current().version;
    assert.equal(decided.outcome.allow, true, decided.outcome.message);
    assert.equal(decided.version, versionC);
    assert.equal(record.policyVersion, versionC);
    assert.deepEqual(session.facts.labels, ["version-c"]);
  } finally {
    await r.close();
  }
});
