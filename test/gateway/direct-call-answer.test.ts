/**
 * How the gateway's direct call path answers the client when the upstream answers on an SSE
 * stream: a result that comes alone goes back as one JSON body (with Content-Length: one write,
 * nothing for the client to parse as SSE); notifications before the result open an SSE stream
 * and pass through as they come, the result last. Either way the answer carries the client's id
 * and the decision.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { directCallPair } from "./support/direct-call-pair.js";

const event = (message: unknown) => `event: message\ndata: ${JSON.stringify(message)}\n\n`;

/** An upstream that answers every tools/call on an SSE stream: `notifications` first, then the result. */
async function through(notifications: number): Promise<{ status: number; type: string; length: string | null; text: string }> {
  const { gatewayUrl, close } = await directCallPair(
    (req, res) => {
      let body = "";
      req.setEncoding("utf8");
      req.on("data", (c: string) => (body += c));
      req.on("end", () => {
        const { id } = JSON.parse(body) as { id: string };
        res.writeHead(200, { "content-type": "text/event-stream" });
        for (let i = 0; i < notifications; i++) res.write(event({ jsonrpc: "2.0", method: "notifications/progress", params: { progressToken: "p", progress: i } }));
        res.end(event({ jsonrpc: "2.0", id, result: { content: [{ type: "text", text: "Echo: hi" }] } }));
      });
    },
    { name: "echo", arguments: { message: "hi" } },
  );
  try {
    const answer = await fetch(gatewayUrl, { method: "POST", body: "{}", signal: AbortSignal.timeout(20_000) });
    return { status: answer.status, type: answer.headers.get("content-type") ?? "", length: answer.headers.get("content-length"), text: await answer.text() };
  } finally {
    await close();
  }
}

test("a result the upstream streams alone is answered as one JSON body", { timeout: 30_000 }, async () => {
  const a = await through(0);
  assert.equal(a.status, 200);
  assert.equal(a.type, "application/json");
  assert.equal(Number(a.length), Buffer.byteLength(a.text));
  const message = JSON.parse(a.text) as { id: unknown; result: { content: { text: string }[]; _meta: Record<string, { decisionId?: string }> } };
  assert.equal(message.id, 7);
  assert.equal(message.result.content[0]!.text, "Echo: hi");
  assert.ok(Object.values(message.result._meta).some((v) => v?.decisionId === "d-1"), "the decision is in the result's _meta");
});

test("notifications before the result open an SSE stream and pass through, the result last", { timeout: 30_000 }, async () => {
  const a = await through(2);
  assert.equal(a.status, 200);
  assert.equal(a.type, "text/event-stream");
  const messages = a.text
    .split("\n\n")
    .filter((e) => e.startsWith("event: message\ndata: "))
    .map((e) => JSON.parse(e.slice("event: message\ndata: ".length)) as { id?: unknown; method?: string; params?: { progress?: number } });
  assert.deepEqual(
    messages.map((m) => m.method ?? `result ${String(m.id)}`),
    ["notifications/progress", "notifications/progress", "result 7"],
  );
  assert.deepEqual(
    messages.slice(0, 2).map((m) => m.params?.progress),
    [0, 1],
  );
});
