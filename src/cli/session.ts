import { parseArgs } from "node:util";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { createClient } from "../grpc/client.js";
import { Decision, ReasonCode } from "../gen/mcppdp/v1/common_pb.js";
import { SessionService, type OpenSessionResponse } from "../gen/mcppdp/v1/session_pb.js";
import { IDENTITY_OPTIONS, IDENTITY_USAGE, tokensFrom } from "./identity-options.js";
import { UsageError } from "./usage-error.js";

const USAGE = `usage: mcp-pdp session open --tool NAME [--tool NAME …] [--resource URI …] [--prompt NAME …] [--ttl SECONDS]
${IDENTITY_USAGE}
       mcp-pdp session get ID [--address HOST:PORT] [--caller-token JWT] [--json]
       mcp-pdp session end ID [--address HOST:PORT] [--caller-token JWT]
Exit status: 0 done (session opened), 3 session refused, 2 usage or connection error.`;

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

/** `mcp-pdp session open|get|end …` */
export async function sessionCommand(argv: string[]): Promise<number> {
  const [verb, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest,
    allowPositionals: true,
    options: {
      ...IDENTITY_OPTIONS,
      tool: { type: "string", multiple: true, default: [] },
      resource: { type: "string", multiple: true, default: [] },
      prompt: { type: "string", multiple: true, default: [] },
      ttl: { type: "string" },
    },
  });
  if (values.help || !verb) {
    process.stdout.write(`${USAGE}\n`);
    return verb ? 0 : 2;
  }
  const client = createClient(SessionService, values.address);
  const call = values["caller-token"] ? { bearer: values["caller-token"] } : {};
  try {
    switch (verb) {
      case "open": {
        const ttl = values.ttl === undefined ? undefined : Number(values.ttl);
        if (ttl !== undefined && (!Number.isInteger(ttl) || ttl <= 0)) throw new UsageError("--ttl must be a positive number of seconds");
        const res = await client.openSession(
          {
            ...(await tokensFrom(values)),
            clientId: values.client,
            serverId: values.server,
            purpose: values.purpose,
            tools: values.tool,
            resources: values.resource,
            prompts: values.prompt,
            ...(ttl !== undefined && { ttl: { seconds: BigInt(ttl) } }),
          },
          call,
        );
        process.stdout.write(values.json ? `${JSON.stringify({ sessionId: res.sessionId, decision: Decision[res.decision], reasonCode: ReasonCode[res.reasonCode] })}\n` : describeOpened(res));
        return res.decision === Decision.ALLOW ? 0 : 3;
      }
      case "get": {
        const id = positionals[0];
        if (!id) throw new UsageError(USAGE);
        const { session } = await client.getSession({ sessionId: id }, call);
        const out = JSON.stringify(session, (_k, v: unknown) => (typeof v === "bigint" ? Number(v) : v), values.json ? 0 : 2);
        process.stdout.write(`${out}\n`);
        return 0;
      }
      case "end": {
        const id = positionals[0];
        if (!id) throw new UsageError(USAGE);
        const res = await client.endSession({ sessionId: id }, call);
        process.stdout.write(res.ended ? "session ended\n" : "session was already over\n");
        return 0;
      }
      default:
        throw new UsageError(USAGE);
    }
  } finally {
    client.close();
  }
}
