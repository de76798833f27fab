/**
 * DESIGN's "one round trip per decision" for an ALLOW in a session with `audit.required` on a
 * standalone Redis: after the state load, the history append travels with the durable record in ONE
 * script (the audit append). Counted with MONITOR on a private redis-server (free port, stopped by
 * its pid), so nothing else's commands are seen.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { Redis } from "ioredis";
import { createClient } from "../../src/grpc/client.js";
import { Action, Decision } from "../../src/gen/mcppdp/v1/common_pb.js";
import { SessionService } from "../../src/gen/mcppdp/v1/session_pb.js";
import { mintDevToken } from "../../src/identity/dev-issuer.js";
import { startTestPdp, type TestPdp } from "../support/pdp.js";
import { PrivateRedis, testClient } from "../support/redis.js";

const SERVER = "https://docs.example.com/mcp";
const PREFIX = "test:roundtrip:";
let redis: PrivateRedis;
let pdp: TestPdp;
let monitor: Redis | undefined;
let plain: Redis | undefined;

before(async () => {
  redis = await PrivateRedis.start();
  pdp = await startTestPdp({
    store: { backend: "redis", redis: { url: redis.url, keyPrefix: PREFIX } },
    audit: { required: true, sinks: ["redis"] },
  });
  plain = await testClient(redis.url);
});
after(async () => {
  monitor?.disconnect();
  plain?.disconnect();
  await pdp?.close();
  await redis?.stop();
});

async function tokens() {
  return { userToken: await mintDevToken("user", { audience: SERVER }), workloadToken: await mintDevToken("workload") };
}

/** The commands Redis received while `fn` ran (MONITOR), as argument lists. */
async function commandsDuring(fn: () => Promise<void>): Promise<string[][]> {
  monitor ??= await plain!.monitor();
  const seen: string[][] = [];
  // Commands a script runs inside Redis are reported with source "lua": not round trips.
  const listener = (_time: string, args: string[], source: string) => void (source === "lua" || seen.push(args));
  monitor.on("monitor", listener);
  try {
    // MONITOR is live once a command sent after it is echoed back.
    const marker = `${PREFIX}marker:${Math.random()}`;
    await plain!.exists(marker);
    for (let i = 0; i < 100 && !seen.some((a) => a[1] === marker); i++) await new Promise((r) => setTimeout(r, 10));
    seen.length = 0;
    await fn();
    const end = `${PREFIX}end:${Math.random()}`;
    await plain!.exists(end);
    for (let i = 0; i < 100 && !seen.some((a) => a[1] === end); i++) await new Promise((r) => setTimeout(r, 10));
    return seen.filter((a) => a[1] !== end);
  } finally {
    monitor.off("monitor", listener);
  }
}

const isScript = (a: readonly string[]) => ["evalsha", "eval"].includes(a[0]!.toLowerCase());
/** The KEYS of an EVAL/EVALSHA. */
const scriptKeys = (a: readonly string[]) => a.slice(3, 3 + Number(a[2]));

test("an ALLOW in a session with audit.required: one script writes the history append and the durable record", async () => {
  const sessions = createClient(SessionService, pdp.address);
  try {
    const s = await sessions.openSession({ ...(await tokens()), clientId: "dev-client", serverId: SERVER, purpose: "research", tools: ["search_documents"] });
    assert.equal(s.decision, Decision.ALLOW, s.message);
    const ask = { ...(await tokens()), sessionId: s.sessionId, clientId: "dev-client", serverId: SERVER, action: Action.CALL_TOOL, tool: "search_documents", purpose: "research" };
    // A first call loads the scripts into this fresh Redis (NOSCRIPT → EVAL once), outside the window.
    assert.equal((await pdp.authz.authorize(ask)).decision, Decision.ALLOW);
    await pdp.records(); // earlier records are written before the window
    let decisionId = "";
    const commands = await commandsDuring(async () => {
      const res = await pdp.authz.authorize(ask);
      assert.equal(res.decision, Decision.ALLOW, res.message);
      decisionId = res.decisionId;
    });
    const scripts = commands.filter(isScript);
    assert.equal(scripts.length, 1, `one script per in-session ALLOW, saw: ${JSON.stringify(commands.map((c) => c.slice(0, 4)))}`);
    const keys = scriptKeys(scripts[0]!);
    assert.ok(keys.includes(`${PREFIX}{s:${s.sessionId}}`), "the script appends to the session's history");
    assert.ok(keys.includes(`${PREFIX}{audit:decisions}:log`), "the same script writes the durable record");
    const writes = commands.filter((c) => !isScript(c) && !["hgetall", "lrange", "smembers", "mget", "get", "hget", "hmget", "exists"].includes(c[0]!.toLowerCase()));
    assert.deepEqual(writes, [], "nothing else is written on the decision's path");

    // Both happened: the history holds the call, and the ALLOW record is stored.
    assert.equal(await plain!.hget(`${PREFIX}{s:${s.sessionId}}`, "callCount"), "2");
    assert.deepEqual(await plain!.lrange(`${PREFIX}{s:${s.sessionId}}:tools`, 0, -1), ["search_documents", "search_documents"]);
    const stored = await pdp.app.audit.get(decisionId);
    assert.equal(stored?.record.decision, "ALLOW");
    assert.equal((await pdp.app.audit.verifyChain()).ok, true);
  } finally {
    sessions.close();
  }
});
