import type { JsonObject } from "@bufbuild/protobuf";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { AuthorizationService } from "../gen/mcppdp/v1/authorization_pb.js";
import { Action, Decision, ReasonCode } from "../gen/mcppdp/v1/common_pb.js";
import { SessionService } from "../gen/mcppdp/v1/session_pb.js";
import type { CliIo } from "./cli-io.js";
import { tokensFrom, type IdentityValues } from "./identity-options.js";
import { dial, resolveAddress } from "./pdp-client.js";
import { describeOpened } from "./session.js";
import { UsageError } from "./usage-error.js";

/** The actions `check --action` takes. */
export const ACTIONS = {
  call_tool: Action.CALL_TOOL,
  read_resource: Action.READ_RESOURCE,
  get_prompt: Action.GET_PROMPT,
} as const satisfies Record<string, Action>;

/** The options of `mcp-pdp check` (see the program's definition for their help). */
export interface CheckOptions extends IdentityValues {
  readonly address?: string | undefined;
  readonly purpose: string;
  readonly callerToken?: string | undefined;
  readonly json?: boolean | undefined;
  readonly tool?: string | undefined;
  readonly action: keyof typeof ACTIONS;
  readonly resource?: string | undefined;
  readonly args?: string | undefined;
  /** An id, false for `--no-session`, undefined to open a session for this one item. */
  readonly session?: string | false | undefined;
}

/**
 * `mcp-pdp check …`: one Authorize call (in a session opened for just this item unless one is
 * given), printed for a human or as JSON. Resolves to 0 on ALLOW, 3 on DENY.
 */
export async function check(values: CheckOptions, io: CliIo): Promise<number> {
  const action = ACTIONS[values.action];
  const tool = values.tool ?? "";
  const resource = values.resource ?? "";
  let args: JsonObject | undefined;
  if (values.args !== undefined) {
    try {
      args = JSON.parse(values.args) as JsonObject;
    } catch {
      throw new UsageError("--args must be a JSON object");
    }
    if (!args || typeof args !== "object" || Array.isArray(args)) throw new UsageError("--args must be a JSON object");
  }
  const address = resolveAddress(values.address);
  const tokens = await tokensFrom(values);
  const call = values.callerToken ? { bearer: values.callerToken } : {};
  const identity = { ...tokens, clientId: values.client, serverId: values.server, purpose: values.purpose };
  const out: string[] = [];
  let sessionId = values.session || "";
  if (values.session !== false && !values.session) {
    const sessions = dial(SessionService, address);
    try {
      const opened = await sessions.openSession(
        {
          ...identity,
          ...(action === Action.READ_RESOURCE ? { resources: [resource] } : action === Action.GET_PROMPT ? { prompts: [tool] } : { tools: [tool] }),
          ttl: { seconds: 60n },
        },
        call,
      );
      if (!values.json) out.push(describeOpened(opened));
      if (opened.decision !== Decision.ALLOW) {
        io.out(values.json ? `${JSON.stringify({ decision: "DENY", reasonCode: ReasonCode[opened.reasonCode], stage: "open_session", message: opened.message })}\n` : out.join(""));
        return 3;
      }
      sessionId = opened.sessionId;
    } finally {
      sessions.close();
    }
  }

  const client = dial(AuthorizationService, address);
  try {
    const res = await client.authorize(
      { ...identity, sessionId, action, tool, resourceUri: resource, ...(args && { arguments: args }) },
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
    io.out(out.join(""));
    return res.decision === Decision.ALLOW ? 0 : 3;
  } finally {
    client.close();
  }
}
