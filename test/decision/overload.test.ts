/**
 * Overload is its own answer: beyond the bound of decisions in flight, a decision is DENY
 * OVERLOADED at once — recorded like any other, never queued behind the slow ones, never an ALLOW —
 * and the decisions that were admitted finish normally.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { mintDevToken } from "../../src/identity/dev-issuer.js";
import { copyCedar } from "../support/pdp.js";
import { ctx, rig } from "./support/core-rig.js";

const SERVER = "https://docs.example.com/mcp";

test("beyond maxInFlight: DENY OVERLOADED at once, recorded; the admitted decisions still ALLOW", { timeout: 60_000 }, async () => {
  const r = await rig(copyCedar(), 2);
  try {
    const who = {
      userToken: await mintDevToken("user", { audience: SERVER }),
      workloadToken: await mintDevToken("workload"),
      clientId: "dev-client",
      serverId: SERVER,
      purpose: "research",
    };
    const opened = await r.core.openSession({ ...who, tools: ["search_documents"], resources: [], prompts: [], ttlMs: 0 }, ctx());
    const sessionId = opened.value!.session!.id;
    const ask = () => r.core.authorize({ ...who, sessionId, action: "tool", tool: "search_documents", resourceUri: "", arguments: {} }, ctx());

    // Two decisions hold both places: each waits on the store.
    const first = r.hold();
    const a = ask();
    await first.reached;
    const second = r.hold();
    const b = ask();
    await second.reached;

    // Everything beyond is answered while those two still wait.
    const refused = await Promise.all([ask(), ask(), ask()]);
    for (const d of refused) {
      assert.equal(d.outcome.allow, false);
      assert.equal(d.outcome.reasonCode, "OVERLOADED");
      assert.equal(d.error?.code, "OVERLOADED");
    }
    first.release();
    second.release();
    const admitted = await Promise.all([a, b]);
    for (const d of admitted) assert.equal(d.outcome.allow, true, d.outcome.message);

    // A place is free again: the next decision is admitted.
    assert.equal((await ask()).outcome.allow, true);
    const overloaded = r.records.filter((x) => x.reasonCode === "OVERLOADED");
    assert.equal(overloaded.length, 3, "each refusal is one record");
    assert.ok(overloaded.every((x) => x.decision === "DENY" && x.clientId === "dev-client"));
  } finally {
    await r.close();
  }
});
