import { timestampDate } from "@bufbuild/protobuf/wkt";
import { ApprovalService, ApprovalState, Verdict, type Approval } from "../gen/mcppdp/v1/approval_pb.js";
import { DEV_PDP_AUDIENCE, mintDevToken } from "../identity/dev-issuer.js";
import { toJson, type CliIo } from "./cli-io.js";
import { dial, resolveAddress } from "./pdp-client.js";
import { formatTable, type Column } from "./table.js";
import { UsageError } from "./usage-error.js";

/** The states `approvals list --state` takes, in the order of the ApprovalState enum (from 1). */
export const STATE_NAMES = ["pending", "approved", "rejected", "used", "expired"] as const;

/** Options every `approvals` subcommand has. */
export interface ApprovalsCommonOptions {
  readonly address?: string | undefined;
  /** The operator's bearer for the console. */
  readonly token?: string | undefined;
  readonly json?: boolean | undefined;
}

/** The options of `mcp-pdp approvals list`. */
export interface ApprovalsListOptions extends ApprovalsCommonOptions {
  readonly state?: (typeof STATE_NAMES)[number] | undefined;
  readonly tool?: string | undefined;
  readonly user?: string | undefined;
  readonly session?: string | undefined;
}

/** The options of `mcp-pdp approvals approve|reject`. */
export interface ApprovalsDecideOptions extends ApprovalsCommonOptions {
  readonly approverToken?: string | undefined;
  readonly devApprover?: string | undefined;
  readonly comment?: string | undefined;
}

const COLUMNS: readonly Column[] = [
  { header: "ID" },
  { header: "STATE" },
  { header: "TOOL", max: 32 },
  { header: "USER", max: 24 },
  { header: "AGENT", max: 48 },
  { header: "REQUESTED" },
  { header: "EXPIRES" },
  { header: "DECIDED BY" },
];

const stateName = (a: Approval) => STATE_NAMES[a.state - 1] ?? ApprovalState[a.state]?.toLowerCase() ?? "?";
const time = (t: Approval["requestedAt"]) => (t ? timestampDate(t).toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z") : "");
const asJson = (a: Approval) => toJson({ ...a, state: stateName(a) });

/** `mcp-pdp approvals list` (ApprovalService.ListApprovals; operator caller): a table, or NDJSON. */
export async function approvalsList(values: ApprovalsListOptions, io: CliIo): Promise<number> {
  const client = dial(ApprovalService, resolveAddress(values.address));
  try {
    const state = values.state === undefined ? 0 : STATE_NAMES.indexOf(values.state) + 1;
    const res = await client.listApprovals({ state, tool: values.tool ?? "", userSubject: values.user ?? "", sessionId: values.session ?? "" }, values.token ? { bearer: values.token } : {});
    if (values.json) {
      io.out(res.approvals.map((a) => `${asJson(a)}\n`).join(""));
      return 0;
    }
    if (res.approvals.length > 0)
      io.out(formatTable(COLUMNS, res.approvals.map((a) => [a.approvalId, stateName(a), a.tool, a.userSubject, a.agentId, time(a.requestedAt), time(a.expiresAt), a.decidedBy])));
    io.out(`${res.approvals.length} approval(s)\n`);
    return 0;
  } finally {
    client.close();
  }
}

/**
 * `mcp-pdp approvals approve|reject ID`: the approver proves who they are with their own token
 * (or `--dev-approver SUB` mints a development one); policy decides whether they may.
 */
export async function approvalsDecide(verdict: "approve" | "reject", id: string, values: ApprovalsDecideOptions, io: CliIo): Promise<number> {
  if (verdict === "reject" && !values.comment) throw new UsageError("reject needs --comment saying why");
  if (values.approverToken === undefined && values.devApprover === undefined) throw new UsageError("give --approver-token JWT, or --dev-approver SUB to mint a development token");
  const address = resolveAddress(values.address);
  const approverToken = values.approverToken ?? (await mintDevToken("user", { subject: values.devApprover!, audience: DEV_PDP_AUDIENCE }));
  const client = dial(ApprovalService, address);
  try {
    const res = await client.decideApproval(
      { approvalId: id, approverToken, verdict: verdict === "approve" ? Verdict.APPROVE : Verdict.REJECT, comment: values.comment ?? "" },
      values.token ? { bearer: values.token } : {},
    );
    const a = res.approval;
    if (values.json) io.out(`${a ? asJson(a) : JSON.stringify({ approvalId: id })}\n`);
    else if (!a) io.out(`${id}\n`);
    else io.out(`${stateName(a)} ${a.approvalId}: ${a.tool} for ${a.userSubject} (agent ${a.agentId}), decided by ${a.decidedBy}\n`);
    return 0;
  } finally {
    client.close();
  }
}
