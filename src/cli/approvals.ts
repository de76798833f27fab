import { parseArgs } from "node:util";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { createClient } from "../grpc/client.js";
import { ApprovalService, ApprovalState, Verdict, type Approval } from "../gen/mcppdp/v1/approval_pb.js";
import { DEV_PDP_AUDIENCE, mintDevToken } from "../identity/dev-issuer.js";
import { UsageError } from "./usage-error.js";

const USAGE = `usage: mcp-pdp approvals list [--state pending|approved|rejected|used|expired] [--tool T] [--user SUB] [--session ID] [--json]
       mcp-pdp approvals approve ID (--approver-token JWT | --dev-approver SUB) [--comment TEXT]
       mcp-pdp approvals reject ID (--approver-token JWT | --dev-approver SUB) --comment TEXT
  [--address HOST:PORT] [--token JWT (operator bearer for the console)]
The approver proves who they are with their own token (audience: the PDP); policy decides
whether they may approve this call (never their own). --dev-approver mints a development token.`;

const STATE_NAMES = ["pending", "approved", "rejected", "used", "expired"] as const;

function row(a: Approval): string {
  const requested = a.requestedAt ? timestampDate(a.requestedAt).toISOString().slice(0, 19) : "";
  const expires = a.expiresAt ? timestampDate(a.expiresAt).toISOString().slice(11, 19) : "";
  const state = ApprovalState[a.state]?.toLowerCase() ?? "?";
  return `${a.approvalId}  ${state.padEnd(8)}  ${a.tool.padEnd(20)}  ${a.userSubject.padEnd(10)}  ${a.agentId}  requested ${requested}Z  expires ${expires}Z${a.decidedBy ? `  by ${a.decidedBy}` : ""}`;
}

/** `mcp-pdp approvals list|approve|reject …` (ApprovalService; operator caller). */
export async function approvalsCommand(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      state: { type: "string" },
      tool: { type: "string", default: "" },
      user: { type: "string", default: "" },
      session: { type: "string", default: "" },
      json: { type: "boolean", default: false },
      "approver-token": { type: "string" },
      "dev-approver": { type: "string" },
      comment: { type: "string", default: "" },
      address: { type: "string", default: "127.0.0.1:50051" },
      token: { type: "string" },
    },
  });
  const client = createClient(ApprovalService, values.address);
  const call = values.token ? { bearer: values.token } : {};
  try {
    switch (verb) {
      case "list": {
        const i = values.state === undefined ? -1 : STATE_NAMES.indexOf(values.state as (typeof STATE_NAMES)[number]);
        if (values.state !== undefined && i < 0) throw new UsageError(USAGE);
        const res = await client.listApprovals({ state: i + 1, tool: values.tool, userSubject: values.user, sessionId: values.session }, call);
        for (const a of res.approvals) process.stdout.write(values.json ? `${JSON.stringify({ ...a, state: STATE_NAMES[a.state - 1] }, (_k, v: unknown) => (typeof v === "bigint" ? Number(v) : v))}\n` : `${row(a)}\n`);
        if (!values.json) process.stdout.write(`${res.approvals.length} approval(s)\n`);
        return 0;
      }
      case "approve":
      case "reject": {
        const id = positionals[0];
        if (!id) throw new UsageError(USAGE);
        if (verb === "reject" && !values.comment) throw new UsageError("reject needs --comment saying why");
        const approverToken =
          values["approver-token"] ??
          (values["dev-approver"] ? await mintDevToken("user", { subject: values["dev-approver"], audience: DEV_PDP_AUDIENCE }) : undefined);
        if (!approverToken) throw new UsageError(USAGE);
        const res = await client.decideApproval(
          { approvalId: id, approverToken, verdict: verb === "approve" ? Verdict.APPROVE : Verdict.REJECT, comment: values.comment },
          call,
        );
        process.stdout.write(`${res.approval ? row(res.approval) : id}\n`);
        return 0;
      }
      default:
        throw new UsageError(USAGE);
    }
  } finally {
    client.close();
  }
}
