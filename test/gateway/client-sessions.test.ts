/** The gateway's client-session registry: bounded in number and idle time, owner-bound (a frozen clock). */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createClientSessions } from "../../src/gateway/client-sessions.js";

const session = () => {
  const s = { closed: 0, async close() { s.closed++; } };
  return s;
};

test("at most `max` sessions: a new one is refused (never an old one evicted) until one is idle or removed", async () => {
  let t = 0;
  const sessions = createClientSessions({ max: 2, idleMs: 1000, now: () => t, sweepEveryMs: 0 });
  const [a, b, c] = [session(), session(), session()];
  assert.equal(sessions.add("a", "alice", a), true);
  assert.equal(sessions.add("b", "bob", b), true);
  assert.equal(sessions.add("c", "carol", c), false);
  assert.equal(a.closed + b.closed, 0, "nobody was pushed out");
  t = 500;
  assert.ok(sessions.get("a", "alice"));
  t = 1200; // b idle since 0, a used at 500
  assert.equal(sessions.add("c", "carol", c), true, "the idle one made room");
  assert.equal(b.closed, 1);
  assert.equal(a.closed, 0);
  await sessions.remove("a");
  assert.equal(a.closed, 1);
  assert.equal(sessions.size(), 1);
  await sessions.close();
  assert.equal(c.closed, 1);
});

test("idle sessions are closed by the sweep; an open stream keeps a session alive until it closes", async () => {
  let t = 0;
  const sessions = createClientSessions({ max: 10, idleMs: 1000, now: () => t, sweepEveryMs: 0 });
  const [quiet, streaming] = [session(), session()];
  sessions.add("quiet", "alice", quiet);
  sessions.add("streaming", "alice", streaming);
  sessions.streamOpened("streaming");
  t = 5000;
  assert.equal(await sessions.sweep(), 1);
  assert.equal(quiet.closed, 1);
  assert.equal(streaming.closed, 0, "an open GET stream is not idle");
  assert.equal(sessions.get("quiet", "alice"), undefined);
  sessions.streamClosed("streaming");
  t = 5500;
  assert.equal(await sessions.sweep(), 0, "idle time counts from the stream's end");
  t = 6000;
  assert.equal(await sessions.sweep(), 1);
  assert.equal(streaming.closed, 1);
  await sessions.close();
});

test("a session is returned to its owner only", async () => {
  const sessions = createClientSessions({ max: 10, idleMs: 1000, sweepEveryMs: 0 });
  const s = session();
  sessions.add("id", "alice", s);
  assert.equal(sessions.get("id", "mallory"), undefined);
  assert.equal(sessions.get("id", "alice"), s);
  await sessions.close();
});

test("the sweep runs on its own timer", async () => {
  let t = 0;
  const sessions = createClientSessions({ max: 10, idleMs: 1000, now: () => t, sweepEveryMs: 10 });
  const s = session();
  sessions.add("id", "alice", s);
  t = 2000;
  const deadline = Date.now() + 10_000;
  while (s.closed === 0) {
    assert.ok(Date.now() < deadline, "swept within 10 s");
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.equal(sessions.size(), 0);
  await sessions.close();
});
