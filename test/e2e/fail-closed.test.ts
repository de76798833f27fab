/**
 * Fail closed: when the PDP is down or too slow, every guarded request is refused and never
 * runs, and the MCP server itself stays up and answers.
 */
import assert from "node:assert/strict";
import { createServer, type Server, type Socket } from "node:net";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { startDocsServer } from "../../examples/docs-server/start-docs-server.js";
import { spawnPdp } from "../support/pdp-process.js";
import { connectDocsClient } from "../../examples/docs-server/docs-client.js";
import { call, devIdentity, startStack, toolNames } from "./support/harness.js";

test("PDP down mid-task: tools refuse with PDP_UNAVAILABLE, tools/list is empty, the MCP server stays up", async () => {
  const stack = await startStack();
  try {
    const client = await stack.connect();
    assert.equal((await call(client, "search_documents", { query: "cedar" })).decision.decision, "ALLOW");
    const ran = stack.docs.effects.length;

    await stack.pdp.close(); // the PDP is gone; the docs server is not told
    for (const tool of ["search_documents", "read_document"]) {
      const { result, decision } = await call(client, tool, { query: "cedar", id: "doc-1" });
      assert.equal(result.isError, true, tool);
      assert.equal(decision.reasonCode, "PDP_UNAVAILABLE", tool);
      assert.match(decision.message, /the PDP (is unreachable|failed|did not answer in time)/);
    }
    assert.deepEqual(await toolNames(client), [], "fail closed: nothing visible");
    assert.equal(stack.docs.effects.length, ran, "no tool ran without a decision");

    // The server is still up: health, a new MCP client (initialize), and a refusal again.
    assert.equal((await fetch(new URL("/healthz", stack.docs.url))).status, 200);
    const late = await stack.connect({ taskId: "late" });
    assert.equal((await call(late, "search_documents", { query: "cedar" })).decision.reasonCode, "PDP_UNAVAILABLE");
  } finally {
    await stack.close();
  }
});

test("PDP too slow: a PDP that accepts connections but never answers is a refusal within the deadline", async () => {
  // A black hole: accepts TCP and says nothing, so every RPC can only end by its deadline.
  const sockets = new Set<Socket>();
  const hole: Server = createServer((s) => {
    sockets.add(s);
    s.on("error", () => {});
  });
  await new Promise<void>((resolve) => hole.listen(0, "127.0.0.1", resolve));
  const docs = await startDocsServer({ pdp: { address: `127.0.0.1:${(hole.address() as AddressInfo).port}`, timeoutMs: 300, openSessionTimeoutMs: 300 } });
  try {
    const client = await connectDocsClient(docs.url, await devIdentity());
    const t0 = performance.now();
    const { result, decision } = await call(client, "search_documents", { query: "cedar" });
    const elapsed = performance.now() - t0;
    assert.equal(result.isError, true);
    assert.equal(decision.reasonCode, "PDP_UNAVAILABLE");
    assert.ok(elapsed < 2000, `refused within the deadline, took ${elapsed.toFixed(0)} ms`);
    assert.equal(docs.effects.length, 0);
    await client.close();
  } finally {
    await docs.close();
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => hole.close(() => resolve()));
  }
});

test("a kept task session that expired is replaced by a fresh one (a new OpenSession decision), not refused forever", async () => {
  const stack = await startStack({}, { sessionTtlSeconds: 1 });
  try {
    const client = await stack.connect();
    const first = await call(client, "search_documents", { query: "cedar" });
    assert.equal(first.decision.decision, "ALLOW");
    await new Promise((r) => setTimeout(r, 1100));
    const second = await call(client, "search_documents", { query: "cedar" });
    assert.equal(second.decision.decision, "ALLOW", second.decision.message);
    assert.notEqual(second.decision.taskSession, first.decision.taskSession, "a new session");
    const records = await stack.pdp.records();
    assert.ok(records.filter((r) => r.action === "open_session").length >= 2, "each session opening is its own recorded decision");
  } finally {
    await stack.close();
  }
});

test("PDP restarted: refusals while it is down, then decisions resume by themselves; the session it forgot is replaced", async () => {
  const port = await freePort();
  const env = { MCP_PDP_PORT: String(port), MCP_PDP_HTTP_PORT: "0", MCP_PDP_DECISION_LOG: "off" };
  let pdp = await spawnPdp(env);
  const docs = await startDocsServer({ pdp: { address: `127.0.0.1:${port}` } });
  try {
    const client = await connectDocsClient(docs.url, await devIdentity());
    const first = await call(client, "search_documents", { query: "cedar" });
    assert.equal(first.decision.decision, "ALLOW");

    pdp.child.kill("SIGTERM");
    await pdp.exited;
    assert.equal((await call(client, "search_documents", { query: "cedar" })).decision.reasonCode, "PDP_UNAVAILABLE");

    pdp = await spawnPdp(env); // memory store: the old session is gone (SESSION_UNKNOWN)
    const t0 = performance.now();
    let after = await call(client, "search_documents", { query: "cedar" });
    while (after.decision.reasonCode === "PDP_UNAVAILABLE" && performance.now() - t0 < 10_000) {
      await new Promise((r) => setTimeout(r, 250));
      after = await call(client, "search_documents", { query: "cedar" });
    }
    assert.equal(after.decision.decision, "ALLOW", after.decision.message);
    assert.notEqual(after.decision.taskSession, first.decision.taskSession, "a new session replaced the forgotten one");
    await client.close();
  } finally {
    await docs.close();
    pdp.child.kill("SIGTERM");
    await pdp.exited;
  }
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address() as AddressInfo;
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}
