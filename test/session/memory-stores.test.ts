import assert from "node:assert/strict";
import { test } from "node:test";
import { PdpError } from "../../src/errors.js";
import { MemoryDecisionStateReader } from "../../src/session/memory-decision-state-reader.js";
import { MemoryRevocationStore } from "../../src/session/memory-revocation-store.js";
import { MemorySessionStore } from "../../src/session/memory-session-store.js";
import { MemoryToolDefinitionStore } from "../../src/session/memory-tool-definition-store.js";
import { newSessionId } from "../../src/session/session-id.js";
import type { RevocationEvent } from "../../src/session/types.js";
import { storeContract } from "./store-contract.js";

storeContract("memory", async ({ expiredRetentionMs }) => {
  let t = 1_700_000_000_000;
  const now = () => t;
  const sessions = new MemorySessionStore({ now, expiredRetentionMs });
  const revocations = new MemoryRevocationStore({ now });
  const definitions = new MemoryToolDefinitionStore();
  return {
    sessions,
    revocations,
    reader: new MemoryDecisionStateReader(sessions, revocations),
    // one process: the "other replica" is any other subscriber of the same store
    otherReplicaRevocations: revocations,
    definitions,
    otherReplicaDefinitions: definitions,
    now,
    advance: async (ms) => {
      t += ms;
    },
    close: async () => {
      await sessions.close();
      await revocations.close();
    },
  };
});

test("memory: listeners are called synchronously inside revoke", async () => {
  const store = new MemoryRevocationStore();
  const seen: RevocationEvent[] = [];
  await store.subscribe((e) => seen.push(e));
  await store.subscribe(() => {
    throw new Error("a bad listener");
  });
  const p = store.revoke({ kind: "jti", value: "j", at: 1, ttlMs: 1000 });
  assert.equal(seen.length, 1, "delivered before revoke's promise settles");
  await p;
});

test("memory: the session store is bounded and frees expired sessions when full", async () => {
  let t = 1_000_000;
  const store = new MemorySessionStore({ now: () => t, maxSessions: 2, expiredRetentionMs: 0 });
  const mk = (ttl: number) => ({
    id: newSessionId(),
    binding: { userIssuer: "i", userSubject: "s", agentId: "a", clientId: "c", serverId: "srv", idp: "i", purpose: "p" },
    grantedTools: [],
    grantedResources: [],
    grantedPrompts: [],
    createdAt: t,
    expiresAt: t + ttl,
  });
  await store.create(mk(100));
  await store.create(mk(10_000));
  await assert.rejects(store.create(mk(100)), (e) => e instanceof PdpError && e.code === "STORE_UNAVAILABLE");
  t += 200;
  await store.create(mk(100));
});

test("memory: the revocation store never drops a live revocation to make room", async () => {
  let t = 1_000_000;
  const store = new MemoryRevocationStore({ now: () => t, maxRecords: 1 });
  await store.revoke({ kind: "agent", value: "a", at: t, ttlMs: 100 });
  await assert.rejects(store.revoke({ kind: "agent", value: "b", at: t, ttlMs: 100 }), (e) => e instanceof PdpError && e.code === "STORE_UNAVAILABLE");
  await store.revoke({ kind: "agent", value: "a", at: t + 1, ttlMs: 100 }); // strengthening an existing one is fine
  t += 200;
  await store.revoke({ kind: "agent", value: "b", at: t, ttlMs: 100 });
});
