import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseSpiffeId } from "../../src/identity/spiffe.js";

describe("parseSpiffeId", () => {
  test("parses a valid ID", () => {
    assert.deepEqual(parseSpiffeId("spiffe://prod.example-1_a.org/agent/research_assistant-2.v1"), {
      id: "spiffe://prod.example-1_a.org/agent/research_assistant-2.v1",
      trustDomain: "prod.example-1_a.org",
      path: "/agent/research_assistant-2.v1",
    });
  });

  const invalid: Record<string, string> = {
    "other scheme": "https://prod.example.org/agent",
    "upper-case scheme": "SPIFFE://prod.example.org/agent",
    "no path": "spiffe://prod.example.org",
    "empty path": "spiffe://prod.example.org/",
    "trailing slash": "spiffe://prod.example.org/agent/",
    "empty segment": "spiffe://prod.example.org/agent//x",
    "dot segment": "spiffe://prod.example.org/agent/./x",
    "dot-dot segment": "spiffe://prod.example.org/agent/../x",
    "empty trust domain": "spiffe:///agent",
    "upper-case trust domain": "spiffe://Prod.example.org/agent",
    "port": "spiffe://prod.example.org:8443/agent",
    "userinfo": "spiffe://me@prod.example.org/agent",
    "query": "spiffe://prod.example.org/agent?x=1",
    "fragment": "spiffe://prod.example.org/agent#x",
    "percent-encoding": "spiffe://prod.example.org/agent%2Fx",
    "space": "spiffe://prod.example.org/agent x",
    "too long": `spiffe://prod.example.org/${"a".repeat(2048)}`,
    "empty": "",
  };
  for (const [name, value] of Object.entries(invalid)) {
    test(`refuses ${name}`, () => assert.equal(parseSpiffeId(value), undefined));
  }
});
