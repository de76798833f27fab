/**
 * The gateway's direct call path holds a bounded answer: an upstream that answers an allowed
 * tools/call with more than MAX_ANSWER_CHARS (as JSON, or as one endless SSE event) gets the call
 * failed with an MCP error, its connection dropped — the gateway does not hold the rest.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { MAX_ANSWER_CHARS } from "../../src/gateway/direct-call.js";
import { directCallPair } from "./support/direct-call-pair.js";

for (const type of ["application/json", "text/event-stream"]) {
  test(`an upstream ${type} answer past the bound fails the call and is not held`, { timeout: 60_000 }, async () => {
    let sent = 0;
    let upstreamClosed = false;
    const chunk = "x".repeat(1024 * 1024);
    const { gatewayUrl, close } = await directCallPair((req, res) => {
      req.resume();
      res.writeHead(200, { "content-type": type });
      if (type === "text/event-stream") res.write("event: message\ndata: ");
      res.on("close", () => (upstreamClosed = true));
      const pump = () => {
        // Never more than twice the bound: past it the test has failed anyway.
        while (sent <= 2 * MAX_ANSWER_CHARS && !res.destroyed) {
          sent += chunk.length;
          if (!res.write(chunk)) return void res.once("drain", pump);
        }
        res.end();
      };
      pump();
    }, { name: "big" });
    try {
      const answer = await fetch(gatewayUrl, { method: "POST", body: "{}", signal: AbortSignal.timeout(50_000) });
      const text = await answer.text();
      assert.ok(text.length < 4096, `the client got ${text.length} characters`);
      assert.match(text, /did not answer: an answer larger than \d+ characters/);
      assert.match(text, /"id":7/);
      const deadline = Date.now() + 10_000;
      while (!upstreamClosed && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      assert.ok(upstreamClosed, "the upstream connection is dropped");
      assert.ok(sent <= 2 * MAX_ANSWER_CHARS, `the upstream sent ${sent} characters`);
    } finally {
      await close();
    }
  });
}
