/** The operational log's two faces: JSON lines, and pino-pretty's readable lines — both redacted. */
import assert from "node:assert/strict";
import { Writable } from "node:stream";
import { test } from "node:test";
import { createLogger } from "../../src/log.js";

function sink(): { stream: Writable; text: () => string } {
  let text = "";
  const stream = new Writable({
    write(chunk, _enc, cb) {
      text += String(chunk);
      cb();
    },
  });
  return { stream, text: () => text };
}

const TOKEN = "eyJhbGciOiJFUzI1NiJ9.c2VjcmV0.c2lnbmF0dXJl";

test("human-readable lines when asked (a terminal), token fields still redacted", async () => {
  const out = sink();
  const logger = createLogger("info", out.stream, { pretty: true });
  logger.info({ port: 50051, userToken: TOKEN, call: { authorization: `Bearer ${TOKEN}` } }, "mcp-pdp serving");
  logger.debug("below the level");
  await new Promise((r) => setImmediate(r));
  const text = out.text();
  assert.match(text, /INFO.*mcp-pdp serving/);
  assert.match(text, /port: 50051/);
  assert.match(text, /userToken: "\[redacted\]"/);
  assert.doesNotMatch(text, /^\{/m, "not JSON");
  assert.ok(!text.includes(TOKEN), text);
  assert.ok(!text.includes("below the level"));
});

test("JSON lines otherwise, redacted the same way", async () => {
  const out = sink();
  const logger = createLogger("info", out.stream);
  logger.info({ userToken: TOKEN }, "hello");
  await new Promise((r) => setImmediate(r));
  const line = JSON.parse(out.text().trim()) as { msg: string; userToken: string; service: string };
  assert.equal(line.msg, "hello");
  assert.equal(line.userToken, "[redacted]");
  assert.equal(line.service, "mcp-pdp");
});
