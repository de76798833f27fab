/**
 * Checks, on a sample, that Cerbos (with the translated policies) and mcp-pdp give the same
 * decisions. The sample is a deterministic mix of tasks: plausible ones (an agent whose group may
 * open sessions on a server, for that purpose) and random ones (any registered or unknown agent,
 * server, purpose, scopes, session lifetime); each opens a session and makes calls with varied
 * arguments (`force`, a blocked argument), some long enough to hit the call and risk budgets.
 * mcp-pdp answers over gRPC (real tokens, real sessions); Cerbos gets the same question with the
 * session facts the PEP keeps. Allowed vs not allowed is compared (a reason code is mcp-pdp's own).
 */
import { Action, Decision, ReasonCode } from "../../src/gen/mcppdp/v1/common_pb.js";
import { mintDevToken } from "../../src/identity/dev-issuer.js";
import type { JsonObject } from "@bufbuild/protobuf";
import type { Connections } from "../lib/driver.js";
import type { CerbosModel } from "./cedar-to-cerbos.js";
import type { CerbosClient } from "./cerbos.js";
import { ask, recordCall, type Question, type SessionFacts } from "./cerbos-target.js";
import { rng } from "../../test/policy/support/random-requests.js";

const ISSUER = "https://dev-issuer.mcp-pdp.invalid";
const PURPOSES = ["research", "notify", "hr-case", "ops", "billing", "support", "release", "sales"];

/** A Cerbos variant to check. */
export interface Peer {
  readonly name: string;
  readonly client: CerbosClient;
  readonly model: CerbosModel;
  readonly jwt: boolean;
}

/** The result of a check. */
export interface Agreement {
  readonly questions: number;
  readonly allowed: number;
  readonly denied: number;
  /** mcp-pdp's answers in the sample, by action and reason code. */
  readonly reasons: Record<string, number>;
  readonly mismatches: readonly string[];
}

/** Asks mcp-pdp and every peer `tasks` tasks' questions; returns counts and every disagreement. */
export async function checkAgreement(pdp: Connections, peers: readonly Peer[], tasks = 40, seed = 11): Promise<Agreement> {
  const model = peers[0]!.model;
  const rand = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  const stranger = "spiffe://dev.mcp-pdp.local/agent/not-registered";
  let questions = 0;
  let allowed = 0;
  let denied = 0;
  const reasons: Record<string, number> = {};
  const mismatches: string[] = [];

  const compare = async (what: string, pdpAllow: boolean, reason: string, q: Question) => {
    questions++;
    const key = `${q.action}:${pdpAllow ? "ALLOW" : reason}`;
    reasons[key] = (reasons[key] ?? 0) + 1;
    if (pdpAllow) allowed++;
    else denied++;
    for (const p of peers) {
      const r = await ask(p.client, p.model, p.jwt, q);
      if (r.allow !== pdpAllow)
        mismatches.push(`${what}: mcp-pdp ${pdpAllow ? "ALLOW" : `DENY ${reason}`}, ${p.name} ${r.allow ? "ALLOW" : "DENY"} — ${JSON.stringify({ ...q, userToken: undefined })}`);
    }
  };

  for (let t = 0; t < tasks; t++) {
    const plausible = t % 3 !== 2 && model.openGrants.length > 0;
    let agentId: string;
    let serverId: string;
    let purpose: string;
    if (t % 10 === 0 || t % 10 === 5) {
      // The bench's own task (past the 50-call budget), and a notifier whose session reads
      // sensitive data and then wants to send a message (the chain rule).
      agentId = `spiffe://dev.mcp-pdp.local/agent/${t % 10 === 0 ? "research-assistant" : "research-notifier"}`;
      serverId = "https://docs.example.com/mcp";
      purpose = "research";
    } else if (plausible) {
      const g = pick(model.openGrants);
      const members = model.agents.filter((a) => model.roles(a).includes(g.group));
      agentId = members.length ? pick(members) : pick(model.agents);
      serverId = g.serverId;
      purpose = g.purpose;
    } else {
      agentId = rand() < 0.15 ? stranger : pick(model.agents);
      serverId = pick(model.servers);
      purpose = pick(PURPOSES);
    }
    const serverTools = model.toolsOf(serverId);
    const tools = [...serverTools].sort(() => rand() - 0.5).slice(0, Math.min(6, serverTools.length));
    // Scopes: none, a production deploy, or a generated tool set's `gen.<k>` scope.
    const sets = tools.flatMap((name) => (model.tool(serverId, name)?.attr.toolsets as string[] | undefined) ?? []);
    const r = rand();
    const scopes = r < 0.4 ? [] : r < 0.6 ? ["deploy.production"] : sets.filter((s) => s.startsWith("gen-ts-")).map((s) => `gen.${s.slice(7)}`).slice(0, 2);
    const ttl = pick([120, 120, 280, 450, 700]);
    // One task in ten runs past the 50-call session budget.
    const calls = t % 10 === 0 ? 53 : t % 10 === 5 ? 12 : 1 + Math.floor(rand() * 14);
    const userToken = await mintDevToken("user", { audience: serverId, subject: `bench-agree-${t}`, scopes, ttlSeconds: 900 });
    const workloadToken = await mintDevToken("workload", { subject: agentId, ttlSeconds: 900 });
    const ids = { userToken, workloadToken, clientId: "dev-client", serverId, purpose };
    const base = { agentId, userToken, idp: ISSUER, scopes, serverId, purpose };

    const opened = await pdp.sessions[0]!.openSession({ ...ids, tools, ttl: { seconds: BigInt(ttl), nanos: 0 } }, { timeoutMs: 10_000 });
    const openAllow = opened.decision === Decision.ALLOW;
    await compare(`task ${t} open_session`, openAllow, ReasonCode[opened.reasonCode] ?? "?", { ...base, action: "open_session", requestedTtlSeconds: ttl });
    if (!openAllow) continue;
    // A session granted nothing: a couple of calls show TOOL_NOT_GRANTED agrees with a policy denial.
    const callsHere = opened.grantedTools.length ? calls : Math.min(calls, 2);
    const facts: SessionFacts = { call_count: 0, tools: [], labels: [], risk_total: 0 };
    for (let c = 0; c < callsHere; c++) {
      // Mostly tools the session was granted (their calls reach the policies), some it was not.
      const granted = opened.grantedTools.length ? opened.grantedTools : tools;
      const tool = callsHere > 50 ? granted[c % Math.min(2, granted.length)]! : rand() < 0.8 ? pick(granted) : pick(tools);
      const a = rand();
      const args: JsonObject = a < 0.75 ? { query: `q${c}` } : a < 0.9 ? { query: `q${c}`, force: true } : { blocked_50: 1 };
      const res = await pdp.authz[0]!.authorize({ ...ids, sessionId: opened.sessionId, action: Action.CALL_TOOL, tool, arguments: args }, { timeoutMs: 10_000 });
      const allow = res.decision === Decision.ALLOW;
      await compare(`task ${t} call ${c} ${tool}`, allow, ReasonCode[res.reasonCode] ?? "?", {
        ...base,
        action: "call_tool",
        tool,
        arguments: args,
        session: { ...facts, tools: [...facts.tools], labels: [...facts.labels] },
      });
      if (allow) recordCall(model, serverId, facts, tool);
    }
  }
  return { questions, allowed, denied, reasons, mismatches };
}
