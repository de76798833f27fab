import { parseArgs } from "node:util";
import type { JsonObject } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { createClient } from "../grpc/client.js";
import { AuthorizationService } from "../gen/mcppdp/v1/authorization_pb.js";
import { Action, Decision, ReasonCode } from "../gen/mcppdp/v1/common_pb.js";
import { SessionService } from "../gen/mcppdp/v1/session_pb.js";
import { IDENTITY_OPTIONS, IDENTITY_USAGE, tokensFrom } from "./identity-options.js";
import { describeOpened } from "./session.js";
import { UsageError } from "./usage-error.js";

const ACTIONS: Record<string, Action> = {
  call_tool: Action.CALL_TOOL,
  read_resource: Action.READ_RESOURCE,
  get_prompt: Action.GET_PROMPT,
};

const USAGE = `usage: mcp-pdp check --tool NAME [--action call_tool|read_resource|get_prompt] [--resource URI]
  [--args JSON] [--session ID | --no-session]
${IDENTITY_USAGE}
Asks the PDP one Authorize question and prints the decision. Without --session it first opens a
session for just this item (printed), as an MCP server would for a task; --no-session asks without
one. Exit status: 0 ALLOW, 3 DENY, 2 usage or connection error.`;

/** `mcp-pdp check …`: one Authorize call, printed for a human (or `--json`). */
export async function check(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      ...IDENTITY_OPTIONS,
      tool: { type: "string", default: "" },
      action: { type: "string", default: "call_tool" },
      resource: { type: "string", default: "" },
      args: { type: "string" },
      session: { type: "string", default: "" },
      "no-session": { type: "boolean", default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const action = ACTIONS[values.action];
  if (action === undefined) throw new UsageError(USAGE);
  let args: JsonObject | undefined;
  if (values.args !== undefined) {
    try {
      args = JSON.parse(values.args) as JsonObject;
    } catch {
      throw new UsageError("--args must be a JSON object");
    }
  }
  const tokens = await tokensFrom(values);
  const call = values["caller-token"] ? { bearer: values["caller-token"] } : {};
  const identity = { ...tokens, clientId: values.client, serverId: values.server, purpose: values.purpose };
  const out: string[] = [];
  let sessionId = values.session;
  if (!sessionId && !values["no-session"]) {
    const sessions = createClient(SessionService, values.address);
    try {
      const opened = await sessions.openSession(
        {
          ...identity,
          ...(action === Action.READ_RESOURCE ? { resources: [values.resource] } : action === Action.GET_PROMPT ? { prompts: [values.tool] } : { tools: [values.tool] }),
          ttl: { seconds: 60n },
        },
        call,
      );
      if (!values.json) out.push(describeOpened(opened));
      if (opened.decision !== Decision.ALLOW) {
        process.stdout.write(values.json ? `${JSON.stringify({ decision: "DENY", reasonCode: ReasonCode[opened.reasonCode], stage: "open_session", message: opened.message })}\n` : out.join(""));
        return 3;
      }
      sessionId = opened.sessionId;
    } finally {
      sessions.close();
    }
  }

  const client = createClient(AuthorizationService, values.address);
  try {
    const res = await client.authorize(
      { ...identity, sessionId, action, tool: values.tool, resourceUri: values.resource, ...(args && { arguments: args }) },
      call,
    );
    const decision = res.decision === Decision.ALLOW ? "ALLOW" : "DENY";
    const reasonCode = ReasonCode[res.reasonCode] ?? String(res.reasonCode);
    const obligations = res.obligations.map((o) => {
      const k = o.kind;
      if (k.case === "approval") return { approval: k.value.approvalId, expiresAt: k.value.expiresAt ? timestampDate(k.value.expiresAt).toISOString() : "" };
      if (k.case === "stepUp") return { stepUpScopes: [...k.value.scopes] };
      if (k.case === "reauthorize") return { reauthorize: k.value.changed };
      return {};
    });
    if (values.json) {
      const reasons = res.reasons.map((r) => ({ policyId: r.policyId, reason: r.reason }));
      out.push(`${JSON.stringify({ decision, reasonCode, reasons, obligations, message: res.message, decisionId: res.decisionId, policyVersion: res.policyVersion, sessionId })}\n`);
    } else {
      out.push(`${decision}  ${reasonCode}  ${res.message}\n`);
      for (const r of res.reasons) out.push(`  because ${r.policyId}: ${r.reason}\n`);
      for (const o of obligations) {
        if (o.approval) out.push(`  approval ${o.approval} (until ${o.expiresAt}): npx mcp-pdp approvals approve ${o.approval} …\n`);
        if (o.stepUpScopes) out.push(`  step-up: the user's token needs scope ${o.stepUpScopes.join(" ")}\n`);
        if (o.reauthorize) out.push(`  re-authorize: the ${o.reauthorize} changed; open a new session\n`);
      }
      out.push(`  decision ${res.decisionId} under policy version ${res.policyVersion}\n`);
    }
    process.stdout.write(out.join(""));
    return res.decision === Decision.ALLOW ? 0 : 3;
  } finally {
    client.close();
  }
}
