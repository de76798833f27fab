import assert from "node:assert/strict";
import { appendFileSync } from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { createClient } from "../../src/grpc/client.js";
import { Health, HealthCheckResponse_ServingStatus as Serving } from "../../src/gen/grpc/health/v1/health_pb.js";
import { copyCedar } from "../support/pdp.js";
import { spawnPdp } from "../support/pdp-process.js";

test("serve on embedded defaults announces development mode, serves health, and stops cleanly on SIGTERM", async (t) => {
  const pdp = await spawnPdp();
  t.after(() => pdp.child.kill("SIGKILL"));
  assert.match(pdp.stderr(), /DEVELOPMENT MODE/);
  const health = createClient(Health, `127.0.0.1:${pdp.port}`);
  assert.equal((await health.check({ service: "" })).status, Serving.SERVING);
  health.close();
  pdp.child.kill("SIGTERM");
  assert.equal(await pdp.exited, 0);
  assert.match(pdp.stderr(), /mcp-pdp stopped/);
});

test("a policy that does not parse stops the start, naming file, line and policy id", async () => {
  const dir = copyCedar((d) =>
    appendFileSync(path.join(d, "policies", "tool-allowlist.cedar"), '\n@id("broken")\n@reason("x")\npermit (principal, action, resource) when { context.purpose == };\n'),
  );
  const err = await spawnPdp({ MCP_PDP_CEDAR_DIR: dir }).then(
    () => assert.fail("started on a broken policy"),
    (e: { code: number; stderr: string }) => e,
  );
  assert.equal(err.code, 1);
  assert.match(err.stderr, /policies\/tool-allowlist\.cedar:\d+/);
  assert.match(err.stderr, /\[broken\]/);
});

test("a policy that does not validate against the schema stops the start", async () => {
  const dir = copyCedar((d) =>
    appendFileSync(
      path.join(d, "policies", "tool-allowlist.cedar"),
      '\n@id("typo")\n@reason("x")\npermit (principal, action == Action::"call_tool", resource) when { resource.riks > 1 };\n',
    ),
  );
  const err = await spawnPdp({ MCP_PDP_CEDAR_DIR: dir }).then(
    () => assert.fail("started on an invalid policy"),
    (e: { code: number; stderr: string }) => e,
  );
  assert.equal(err.code, 1);
  assert.match(err.stderr, /tool-allowlist\.cedar:\d+ \[typo\]/);
});

test("an invalid configuration stops the start with exit code 2", async () => {
  const err = await spawnPdp({ MCP_PDP_MODE: "production" }).then(
    () => assert.fail("started"),
    (e: { code: number; stderr: string }) => e,
  );
  assert.equal(err.code, 2);
  assert.match(err.stderr, /config: production mode needs/);
});
