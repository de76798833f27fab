/**
 * Policy decision cases as data files (`cedar/tests/*.json`; format in `cedar/README.md`):
 * loading and running them against any {@link PolicyEngine}. Used by the test suite and by
 * `mcp-pdp policy test`.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { PdpError } from "../errors.js";
import type { DecisionInput, PolicyAction, PolicyDecision, PolicyEngine, SessionFacts } from "./types.js";

/** What a case expects from the engine. */
export interface ExpectedDecision {
  readonly decision: PolicyDecision["decision"];
  readonly outcome: PolicyDecision["outcome"];
  /** The `@id`s of the determining policies, in any order (compared as a sorted list). */
  readonly reasons: readonly string[];
}

/** One decision case, with its request resolved to a full {@link DecisionInput}. */
export interface DecisionCase {
  /** The case file, relative to the cases directory (e.g. `tools.json`). */
  readonly file: string;
  readonly name: string;
  readonly description?: string;
  readonly input: DecisionInput;
  readonly expect: ExpectedDecision;
}

/** The result of running one case. */
export interface DecisionCaseResult {
  readonly case: DecisionCase;
  readonly passed: boolean;
  readonly actual: PolicyDecision;
  /** One line per difference (empty when passed). */
  readonly mismatches: readonly string[];
}

const ACTIONS: readonly PolicyAction[] = ["open_session", "call_tool", "read_resource", "get_prompt"];
const DECISIONS = ["allow", "deny"] as const;
const OUTCOMES = ["permit", "forbid", "no_permit", "error"] as const;

/**
 * Loads every `*.json` case file of a directory (sorted), resolving each case's request against
 * the file's `defaults`.
 *
 * @throws PdpError `POLICY_INVALID` naming the file and case for a malformed file.
 */
export function loadDecisionCases(dir: string): DecisionCase[] {
  const files = readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith(".json"))
    .map((e) => e.name)
    .sort();
  return files.flatMap((file) => parseCaseFile(file, readFileSync(path.join(dir, file), "utf8")));
}

/** Parses one case file's text. Exported for tools that hold the text already. */
export function parseCaseFile(file: string, text: string): DecisionCase[] {
  const fail = (msg: string): never => {
    throw new PdpError("POLICY_INVALID", `${file}: ${msg}`);
  };
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    return fail(`invalid JSON: ${(err as Error).message}`);
  }
  if (!isObject(doc) || !Array.isArray(doc["cases"])) return fail(`expected { "defaults"?: {…}, "cases": [ … ] }`);
  const defaults = doc["defaults"] ?? {};
  if (!isObject(defaults)) return fail(`"defaults" must be an object`);
  const names = new Set<string>();
  return (doc["cases"] as unknown[]).map((raw, i) => {
    if (!isObject(raw)) return fail(`case ${i} must be an object`);
    const name = raw["name"];
    if (typeof name !== "string" || name === "") return fail(`case ${i} needs a "name"`);
    if (names.has(name)) return fail(`duplicate case name ${JSON.stringify(name)}`);
    names.add(name);
    const where = (msg: string): never => fail(`case ${JSON.stringify(name)}: ${msg}`);
    const request = raw["request"] ?? {};
    if (!isObject(request)) return where(`"request" must be an object`);
    const description = raw["description"];
    return {
      file,
      name,
      ...(typeof description === "string" ? { description } : {}),
      input: toInput({ ...defaults, ...request }, where),
      expect: toExpect(raw["expect"], where),
    };
  });
}

/** Runs one case: evaluates its input and compares decision, outcome and reason ids. */
export function runDecisionCase(engine: PolicyEngine, c: DecisionCase): DecisionCaseResult {
  const actual = engine.evaluate(c.input);
  const mismatches: string[] = [];
  if (actual.decision !== c.expect.decision) mismatches.push(`decision: expected ${c.expect.decision}, got ${actual.decision}`);
  if (actual.outcome !== c.expect.outcome) mismatches.push(`outcome: expected ${c.expect.outcome}, got ${actual.outcome}`);
  const want = [...c.expect.reasons].sort();
  const got = actual.reasons.map((r) => r.policyId).sort();
  if (want.join("\n") !== got.join("\n")) mismatches.push(`reasons: expected [${want.join(", ")}], got [${got.join(", ")}]`);
  if (mismatches.length > 0 && actual.errors.length > 0) mismatches.push(`errors: ${actual.errors.join("; ")}`);
  return { case: c, passed: mismatches.length === 0, actual, mismatches };
}

/** Runs every case, in order. */
export function runDecisionCases(engine: PolicyEngine, cases: readonly DecisionCase[]): DecisionCaseResult[] {
  return cases.map((c) => runDecisionCase(engine, c));
}

function toInput(r: Record<string, unknown>, fail: (msg: string) => never): DecisionInput {
  const agent = r["agent"];
  const agentId = typeof agent === "string" ? agent : isObject(agent) ? agent["id"] : undefined;
  if (typeof agentId !== "string") return fail(`"agent" must be a SPIFFE ID or { "id", "trustDomain" }`);
  const trustDomain = isObject(agent) && typeof agent["trustDomain"] === "string" ? agent["trustDomain"] : spiffeTrustDomain(agentId);
  const user = r["user"];
  if (!isObject(user) || typeof user["issuer"] !== "string" || typeof user["subject"] !== "string") {
    return fail(`"user" must be { "issuer", "subject", "scopes"? }`);
  }
  const scopes = user["scopes"] ?? [];
  if (!isStringArray(scopes)) return fail(`"user.scopes" must be an array of strings`);
  const action = r["action"];
  if (!ACTIONS.includes(action as PolicyAction)) return fail(`"action" must be one of ${ACTIONS.join(", ")}`);
  for (const f of ["clientId", "serverId", "idp", "purpose"]) {
    if (typeof r[f] !== "string") return fail(`"${f}" must be a string`);
  }
  for (const f of ["tool", "resourceUri"]) {
    if (r[f] !== undefined && typeof r[f] !== "string") return fail(`"${f}" must be a string`);
  }
  const args = r["arguments"];
  if (args !== undefined && !isObject(args)) return fail(`"arguments" must be an object`);
  const session = r["session"];
  if (session !== undefined && !isSession(session)) {
    return fail(`"session" must be { "callCount", "tools", "labels", "riskTotal" }`);
  }
  return {
    agent: { id: agentId, trustDomain },
    user: { issuer: user["issuer"], subject: user["subject"], scopes },
    clientId: r["clientId"] as string,
    serverId: r["serverId"] as string,
    idp: r["idp"] as string,
    action: action as PolicyAction,
    purpose: r["purpose"] as string,
    ...(typeof r["tool"] === "string" ? { tool: r["tool"] } : {}),
    ...(typeof r["resourceUri"] === "string" ? { resourceUri: r["resourceUri"] } : {}),
    ...(args !== undefined ? { arguments: args as DecisionInput["arguments"] } : {}),
    ...(session !== undefined ? { session } : {}),
  };
}

function toExpect(raw: unknown, fail: (msg: string) => never): ExpectedDecision {
  if (!isObject(raw)) return fail(`needs "expect": { "decision", "outcome", "reasons" }`);
  const { decision, outcome, reasons } = raw;
  if (!DECISIONS.includes(decision as never)) return fail(`"expect.decision" must be one of ${DECISIONS.join(", ")}`);
  if (!OUTCOMES.includes(outcome as never)) return fail(`"expect.outcome" must be one of ${OUTCOMES.join(", ")}`);
  if (!isStringArray(reasons)) return fail(`"expect.reasons" must be an array of policy @ids`);
  return { decision: decision as ExpectedDecision["decision"], outcome: outcome as ExpectedDecision["outcome"], reasons };
}

/** `spiffe://<trust domain>/<path>` → `<trust domain>` (empty when not a SPIFFE ID). */
function spiffeTrustDomain(id: string): string {
  const m = /^spiffe:\/\/([^/]+)/.exec(id);
  return m?.[1] ?? "";
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === "string");
}

function isSession(v: unknown): v is SessionFacts {
  return (
    isObject(v) &&
    typeof v["callCount"] === "number" &&
    typeof v["riskTotal"] === "number" &&
    isStringArray(v["tools"]) &&
    isStringArray(v["labels"])
  );
}
