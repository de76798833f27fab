/**
 * Session and approval handles are typed on command lines (`mcp-pdp session get ID`,
 * `mcp-pdp approvals approve ID`): one that starts with `-` is read as an option. None may.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { newApprovalId } from "../../src/session/approval-call.js";
import { isSessionId, newSessionId } from "../../src/session/session-id.js";

test("session and approval handles never start with '-' (1 in 64 base64url draws would)", () => {
  for (let i = 0; i < 5000; i++) {
    const s = newSessionId();
    assert.ok(!s.startsWith("-") && isSessionId(s) && s.length === 43, s);
    const a = newApprovalId();
    assert.ok(!a.startsWith("-") && a.length === 22, a);
  }
});
