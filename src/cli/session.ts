import { timestampDate } from "@bufbuild/protobuf/wkt";
import { Decision, ReasonCode } from "../gen/mcppdp/v1/common_pb.js";
import { SessionService, type OpenSessionResponse } from "../gen/mcppdp/v1/session_pb.js";
import { toJson, type CliIo } from "./cli-io.js";
import { tokensFrom, type IdentityValues } from "./identity-options.js";
import { dial, resolveAddress } from "./pdp-client.js";

/** Prints an OpenSession answer for a human. */
export function describeOpened(res: OpenSessionResponse): string {
  const lines: string[] = [];
  if (res.decision === Decision.ALLOW) {
    const expires = res.expiresAt ? timestampDate(res.expiresAt).toISOString() : "?";
    lines.push(`session ${res.sessionId} opened, expires ${expires}`);
    lines.push(`  granted: ${[...res.grantedTools, ...res.grantedResources, ...res.grantedPrompts].join(", ") || "nothing"}`);
  } else {
    lines.push(`session refused  ${ReasonCode[res.reasonCode]}  ${res.message}`);
    for (const r of res.reasons) lines.push(`  because ${r.policyId}: ${r.reason}`);
  }
  for (const r of res.refused) {
    lines.push(`  not granted: ${r.item} (${ReasonCode[r.reasonCode]})`);
    for (const p of r.reasons) lines.push(`    because ${p.policyId}: ${p.reason}`);
  }
  return `${lines.join("\n")}\n`;
}

/** The options of `mcp-pdp session open`. */
export interface SessionOpenOptions extends IdentityValues {
  readonly address?: string | undefined;
  readonly purpose: string;
  readonly callerToken?: string | undefined;
  readonly json?: boolean | undefined;
  readonly tool?: string[] | undefined;
  readonly resource?: string[] | undefined;
  readonly prompt?: string[] | undefined;
  readonly ttl?: number | undefined;
}

/** The options of `mcp-pdp session get|end`. */
export interface SessionIdOptions {
  readonly address?: string | undefined;
  readonly callerToken?: string | undefined;
  readonly json?: boolean | undefined;
}

/** `mcp-pdp session open …`: 0 opened, 3 refused. */
export async function sessionOpen(values: SessionOpenOptions, io: CliIo): Promise<number> {
  const address = resolveAddress(values.address);
  const tokens = await tokensFrom(values);
  const client = dial(SessionService, address);
  try {
    const res = await client.openSession(
      {
        ...tokens,
        clientId: values.client,
        serverId: values.server,
        purpose: values.purpose,
        tools: values.tool ?? [],
        resources: values.resource ?? [],
        prompts: values.prompt ?? [],
        ...(values.ttl !== undefined && { ttl: { seconds: BigInt(values.ttl) } }),
      },
      values.callerToken ? { bearer: values.callerToken } : {},
    );
    io.out(values.json ? `${JSON.stringify({ sessionId: res.sessionId, decision: Decision[res.decision], reasonCode: ReasonCode[res.reasonCode] })}\n` : describeOpened(res));
    return res.decision === Decision.ALLOW ? 0 : 3;
  } finally {
    client.close();
  }
}

/** `mcp-pdp session get ID`: the session as JSON (indented unless `--json`). */
export async function sessionGet(id: string, values: SessionIdOptions, io: CliIo): Promise<number> {
  const client = dial(SessionService, resolveAddress(values.address));
  try {
    const { session } = await client.getSession({ sessionId: id }, values.callerToken ? { bearer: values.callerToken } : {});
    io.out(`${toJson(session, values.json ? 0 : 2)}\n`);
    return 0;
  } finally {
    client.close();
  }
}

/** `mcp-pdp session end ID`: ends it now. */
export async function sessionEnd(id: string, values: SessionIdOptions, io: CliIo): Promise<number> {
  const client = dial(SessionService, resolveAddress(values.address));
  try {
    const res = await client.endSession({ sessionId: id }, values.callerToken ? { bearer: values.callerToken } : {});
    io.out(values.json ? `${JSON.stringify({ sessionId: id, ended: res.ended })}\n` : res.ended ? "session ended\n" : "session was already over\n");
    return 0;
  } finally {
    client.close();
  }
}
