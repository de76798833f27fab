/**
 * Policy decision cases as data files (`cedar/tests/*.json`; format in `cedar/README.md`):
 * loading and running them against any {@link PolicyEngine}. Used by the test suite and by
 * `mcp-pdp policy test`.
 */
import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import { PdpError } from "../errors.js";
import type { DecisionInput, NoveltyFacts, PolicyAction, PolicyDecision, PolicyEngine, SessionFacts } from "./types.js";

/** What a case expects from the engine. */
export interface ExpectedDecision {
  readonly decision: PolicyDecision["decision"];
  /** Checked only when the case gives it. */
  readonly outcome?: PolicyDecision["outcome"];
  /** The `@id`s of the determining policies, in any order (compared as a sorted list). */
  readonly reasons: readonly string[];
  /**
   * Text that one of the evaluation errors must contain (e.g. the INVALID_ARGUMENTS message of
   * arguments that do not conform to the tool's definition: outcome `error`).
   */
  readonly error?: string;
}

/** One decision case, with its request resolved to a full {@link DecisionInput}. */
export interface DecisionCase {
  /** The case file, relative to the cases directory (e.g. `tools.json`). */
  readonly file: string;
  readonly name: string;
  readonly description?: string;
  /**
   * The request. When the case gives a session `history`, `input.session` holds only the facts
   * the case stated explicitly; {@link resolveCaseInput} derives the rest from the history.
   */
  readonly input: DecisionInput;
  /** Tool names the session called before this request (on the request's server), oldest first. */
  readonly history?: readonly string[];
  /** Session facts the case stated explicitly (they win over what the history gives). */
  readonly sessionOverrides?: Partial<SessionFacts>;
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

const ACTIONS: readonly PolicyAction[] = ["open_session", "call_tool", "read_resource", "get_prompt", "approve"];
const ATTESTATIONS = ["spiffe", "act", "client"] as const;
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
    const merged = { ...defaults, ...request };
    const session = toSession(merged["session"], where);
    return {
      file,
      name,
      ...(typeof description === "string" ? { description } : {}),
      input: toInput(merged, session?.facts, where),
      ...(session?.history ? { history: session.history } : {}),
      ...(session ? { sessionOverrides: session.overrides } : {}),
      expect: toExpect(raw["expect"], where),
    };
  });
}

/**
 * The case's request with its session facts derived from its `history` through the engine's
 * static tool facts: `callCount` = calls in the history, `tools` = their names, `labels` = the
 * union of their labels, `riskTotal` = the sum of their risks; facts the case states win.
 *
 * @throws PdpError `POLICY_INVALID` when the history names a tool the entities do not list.
 */
export function resolveCaseInput(engine: PolicyEngine, c: DecisionCase): DecisionInput {
  if (!c.history) return c.input;
  const tools: string[] = [];
  const labels = new Set<string>();
  let riskTotal = 0;
  for (const name of c.history) {
    const info = engine.tool(c.input.serverId, name);
    if (!info) throw new PdpError("POLICY_INVALID", `session history names ${JSON.stringify(name)}, which the entities do not list on ${c.input.serverId}`);
    if (!tools.includes(name)) tools.push(name);
    info.labels.forEach((l) => labels.add(l));
    riskTotal += info.risk;
  }
  const session: SessionFacts = {
    callCount: c.history.length,
    tools,
    labels: [...labels],
    riskTotal,
    ...c.sessionOverrides,
  };
  return { ...c.input, session };
}

/** Runs one case: evaluates its input and compares decision, outcome (when expected) and reason ids. */
export function runDecisionCase(engine: PolicyEngine, c: DecisionCase): DecisionCaseResult {
  let input: DecisionInput;
  try {
    input = resolveCaseInput(engine, c);
  } catch (err) {
    const message = PdpError.from(err, "POLICY_INVALID").message;
    const actual: PolicyDecision = { decision: "deny", outcome: "error", reasons: [], errors: [message], version: engine.version };
    return { case: c, passed: false, actual, mismatches: [message] };
  }
  const actual = engine.evaluate(input);
  const mismatches: string[] = [];
  if (actual.decision !== c.expect.decision) mismatches.push(`decision: expected ${c.expect.decision}, got ${actual.decision}`);
  if (c.expect.outcome !== undefined && actual.outcome !== c.expect.outcome) {
    mismatches.push(`outcome: expected ${c.expect.outcome}, got ${actual.outcome}`);
  }
  const want = [...c.expect.reasons].sort();
  const got = actual.reasons.map((r) => r.policyId).sort();
  if (want.join("\n") !== got.join("\n")) mismatches.push(`reasons: expected [${want.join(", ")}], got [${got.join(", ")}]`);
  if (c.expect.error !== undefined && !actual.errors.some((e) => e.includes(c.expect.error as string))) {
    mismatches.push(`error: expected one containing ${JSON.stringify(c.expect.error)}, got [${actual.errors.join("; ")}]`);
  }
  if (mismatches.length > 0 && actual.errors.length > 0) mismatches.push(`errors: ${actual.errors.join("; ")}`);
  return { case: c, passed: mismatches.length === 0, actual, mismatches };
}

/** Runs every case, in order. */
export function runDecisionCases(engine: PolicyEngine, cases: readonly DecisionCase[]): DecisionCaseResult[] {
  return cases.map((c) => runDecisionCase(engine, c));
}

function toInput(r: Record<string, unknown>, session: SessionFacts | undefined, fail: (msg: string) => never): DecisionInput {
  const agent = r["agent"];
  const agentId = typeof agent === "string" ? agent : isObject(agent) ? agent["id"] : undefined;
  if (typeof agentId !== "string") return fail(`"agent" must be a SPIFFE ID or { "id", "trustDomain" }`);
  const trustDomain = isObject(agent) && typeof agent["trustDomain"] === "string" ? agent["trustDomain"] : spiffeTrustDomain(agentId);
  const user = r["user"];
  if (!isObject(user) || typeof user["issuer"] !== "string" || typeof user["subject"] !== "string") {
    return fail(`"user" must be { "issuer", "subject", "scopes"? }`);
  }
  // `scopes` (an array), or `scope` as the token carries it (a space-separated string).
  const scope = user["scope"];
  if (scope !== undefined && typeof scope !== "string") return fail(`"user.scope" must be a space-separated string`);
  const scopes = user["scopes"] ?? (scope === undefined ? [] : scope.split(" ").filter((x) => x !== ""));
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
  const ttl = r["requestedTtlSeconds"];
  if (ttl !== undefined && !Number.isSafeInteger(ttl)) return fail(`"requestedTtlSeconds" must be a whole number`);
  const approved = r["approved"];
  if (approved !== undefined && typeof approved !== "boolean") return fail(`"approved" must be true or false`);
  const novelty = toNovelty(r["novelty"], fail);
  // What the gRPC door reports for a verified JWT-SVID, unless the case says otherwise.
  const attestation = r["agentAttestation"] ?? "spiffe";
  if (!ATTESTATIONS.includes(attestation as never)) return fail(`"agentAttestation" must be one of ${ATTESTATIONS.join(", ")}`);
  const requester = r["requestingUser"];
  if (requester !== undefined && (!isObject(requester) || typeof requester["issuer"] !== "string" || typeof requester["subject"] !== "string")) {
    return fail(`"requestingUser" must be { "issuer", "subject" }`);
  }
  return {
    agent: { id: agentId, trustDomain },
    user: { issuer: user["issuer"], subject: user["subject"], scopes },
    clientId: r["clientId"] as string,
    serverId: r["serverId"] as string,
    idp: r["idp"] as string,
    action: action as PolicyAction,
    purpose: r["purpose"] as string,
    agentAttestation: attestation as NonNullable<DecisionInput["agentAttestation"]>,
    ...(typeof r["tool"] === "string" ? { tool: r["tool"] } : {}),
    ...(typeof r["resourceUri"] === "string" ? { resourceUri: r["resourceUri"] } : {}),
    ...(args !== undefined ? { arguments: args as DecisionInput["arguments"] } : {}),
    ...(session !== undefined ? { session } : {}),
    ...(ttl !== undefined ? { requestedTtlSeconds: ttl as number } : {}),
    ...(approved !== undefined ? { approved } : {}),
    ...(novelty !== undefined ? { novelty } : {}),
    ...(requester !== undefined ? { requestingUser: requester as { issuer: string; subject: string } } : {}),
  };
}

const NOVELTY_FLAGS = ["clientForUser", "agentAtServer", "clientAtServer", "idpForServer", "brokerPath"] as const;

/** `novelty`: `{ "clientForUser"?, "agentAtServer"?, "clientAtServer"?, "idpForServer"?, "brokerPath"?, "newScopes"? }` (absent: false / none). */
function toNovelty(raw: unknown, fail: (msg: string) => never): NoveltyFacts | undefined {
  if (raw === undefined) return undefined;
  const shape = `"novelty" must be { ${[...NOVELTY_FLAGS, "newScopes"].map((k) => `"${k}"?`).join(", ")} }`;
  if (!isObject(raw)) return fail(shape);
  for (const k of Object.keys(raw)) if (![...NOVELTY_FLAGS, "newScopes"].includes(k)) return fail(`${shape}; unknown field "${k}"`);
  for (const k of NOVELTY_FLAGS) if (raw[k] !== undefined && typeof raw[k] !== "boolean") return fail(`"novelty.${k}" must be true or false`);
  if (raw["newScopes"] !== undefined && !isStringArray(raw["newScopes"])) return fail(`"novelty.newScopes" must be an array of strings`);
  return {
    clientForUser: raw["clientForUser"] === true,
    agentAtServer: raw["agentAtServer"] === true,
    clientAtServer: raw["clientAtServer"] === true,
    idpForServer: raw["idpForServer"] === true,
    brokerPath: raw["brokerPath"] === true,
    newScopes: (raw["newScopes"] as string[] | undefined) ?? [],
  };
}

/**
 * `session`: `{ "history"?: [tool names], "callCount"?, "tools"?, "labels"?, "riskTotal"? }`.
 * Facts not given default to what the history gives (resolved at run time), or to zero/empty.
 */
function toSession(
  raw: unknown,
  fail: (msg: string) => never,
): { facts: SessionFacts; history?: string[]; overrides: Partial<SessionFacts> } | undefined {
  if (raw === undefined) return undefined;
  const shape = `"session" must be { "history"?: [tool names], "callCount"?, "tools"?, "labels"?, "riskTotal"? }`;
  if (!isObject(raw)) return fail(shape);
  for (const k of Object.keys(raw)) {
    if (!["history", "callCount", "tools", "labels", "riskTotal"].includes(k)) return fail(`${shape}; unknown field "${k}"`);
  }
  const { history, callCount, tools, labels, riskTotal } = raw;
  if (history !== undefined && !isStringArray(history)) return fail(`"session.history" must be an array of tool names`);
  for (const [k, v] of [["callCount", callCount], ["riskTotal", riskTotal]] as const) {
    if (v !== undefined && !Number.isSafeInteger(v)) return fail(`"session.${k}" must be a whole number`);
  }
  for (const [k, v] of [["tools", tools], ["labels", labels]] as const) {
    if (v !== undefined && !isStringArray(v)) return fail(`"session.${k}" must be an array of strings`);
  }
  const overrides: Partial<SessionFacts> = {
    ...(callCount !== undefined && { callCount: callCount as number }),
    ...(tools !== undefined && { tools: tools as string[] }),
    ...(labels !== undefined && { labels: labels as string[] }),
    ...(riskTotal !== undefined && { riskTotal: riskTotal as number }),
  };
  const facts: SessionFacts = { callCount: history?.length ?? 0, tools: [], labels: [], riskTotal: 0, ...overrides };
  return { facts, ...(history !== undefined && { history }), overrides };
}

function toExpect(raw: unknown, fail: (msg: string) => never): ExpectedDecision {
  if (!isObject(raw)) return fail(`needs "expect": { "decision", "outcome"?, "reasons" }`);
  const { decision, outcome, reasons, error } = raw;
  if (error !== undefined && typeof error !== "string") return fail(`"expect.error" must be a string`);
  if (!DECISIONS.includes(decision as never)) return fail(`"expect.decision" must be one of ${DECISIONS.join(", ")}`);
  if (outcome !== undefined && !OUTCOMES.includes(outcome as never)) return fail(`"expect.outcome" must be one of ${OUTCOMES.join(", ")}`);
  if (!isStringArray(reasons)) return fail(`"expect.reasons" must be an array of policy @ids`);
  return {
    decision: decision as ExpectedDecision["decision"],
    ...(outcome !== undefined && { outcome: outcome as NonNullable<ExpectedDecision["outcome"]> }),
    reasons,
    ...(error !== undefined && { error }),
  };
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

