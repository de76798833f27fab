import { parseArgs } from "node:util";
import type { JsonObject } from "@bufbuild/protobuf";
import { createClient } from "../grpc/client.js";
import { AuthorizationService } from "../gen/mcppdp/v1/authorization_pb.js";
import { Action, Decision, ReasonCode } from "../gen/mcppdp/v1/common_pb.js";
import { DEV_MCP_SERVER_URI, mintDevToken } from "../identity/dev-issuer.js";
import { UsageError } from "./usage-error.js";

const ACTIONS: Record<string, Action> = {
  call_tool: Action.CALL_TOOL,
  read_resource: Action.READ_RESOURCE,
  get_prompt: Action.GET_PROMPT,
};

const USAGE = `usage: mcp-pdp check --tool NAME [--purpose P] [--action call_tool|read_resource|get_prompt]
  [--resource URI] [--args JSON] [--server URI] [--client ID] [--session ID]
  [--user-token JWT] [--workload-token JWT] [--caller-token JWT] [--dev] [--agent SPIFFE_ID] [--user SUB]
  [--address HOST:PORT] [--json]
Asks the PDP one Authorize question and prints the decision. With --dev, tokens not given are
minted by the development issuer. Exit status: 0 ALLOW, 3 DENY, 2 usage or connection error.`;

/** `mcp-pdp check …`: one Authorize call, printed for a human (or `--json`). */
export async function check(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      address: { type: "string", default: "127.0.0.1:50051" },
      tool: { type: "string", default: "" },
      action: { type: "string", default: "call_tool" },
      resource: { type: "string", default: "" },
      args: { type: "string" },
      purpose: { type: "string", default: "research" },
      server: { type: "string", default: DEV_MCP_SERVER_URI },
      client: { type: "string", default: "dev-client" },
      session: { type: "string", default: "" },
      "user-token": { type: "string" },
      "workload-token": { type: "string" },
      "caller-token": { type: "string" },
      dev: { type: "boolean", default: false },
      agent: { type: "string" },
      user: { type: "string" },
      json: { type: "boolean", default: false },
      help: { type: "boolean", default: false },
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
  const userToken =
    values["user-token"] ??
    (values.dev ? await mintDevToken("user", { audience: values.server, clientId: values.client, ...(values.user && { subject: values.user }) }) : undefined);
  const workloadToken = values["workload-token"] ?? (values.dev ? await mintDevToken("workload", { ...(values.agent && { subject: values.agent }) }) : undefined);
  if (!userToken || !workloadToken) throw new UsageError("give --user-token and --workload-token, or --dev to mint development tokens");

  const client = createClient(AuthorizationService, values.address);
  try {
    const res = await client.authorize(
      {
        sessionId: values.session,
        userToken,
        workloadToken,
        clientId: values.client,
        serverId: values.server,
        action,
        tool: values.tool,
        resourceUri: values.resource,
        ...(args && { arguments: args }),
        purpose: values.purpose,
      },
      values["caller-token"] ? { bearer: values["caller-token"] } : {},
    );
    const decision = res.decision === Decision.ALLOW ? "ALLOW" : "DENY";
    const reasonCode = ReasonCode[res.reasonCode] ?? String(res.reasonCode);
    if (values.json) {
      const reasons = res.reasons.map((r) => ({ policyId: r.policyId, reason: r.reason }));
      process.stdout.write(
        `${JSON.stringify({ decision, reasonCode, reasons, message: res.message, decisionId: res.decisionId, policyVersion: res.policyVersion })}\n`,
      );
    } else {
      process.stdout.write(`${decision}  ${reasonCode}  ${res.message}\n`);
      for (const r of res.reasons) process.stdout.write(`  because ${r.policyId}: ${r.reason}\n`);
      process.stdout.write(`  decision ${res.decisionId} under policy version ${res.policyVersion}\n`);
    }
    return res.decision === Decision.ALLOW ? 0 : 3;
  } finally {
    client.close();
  }
}
