import { parseArgs } from "node:util";
import { timestampDate } from "@bufbuild/protobuf/wkt";
import { createClient } from "../grpc/client.js";
import { AdminService, type RevokeRequest } from "../gen/mcppdp/v1/admin_pb.js";
import { UsageError } from "./usage-error.js";

const USAGE = `usage: mcp-pdp revoke (--session ID | --agent SPIFFE_ID | --user ISSUER#SUBJECT | --client ID | --jti TOKEN_ID)
  [--reason TEXT] [--address HOST:PORT] [--token JWT (operator bearer)]
Revoking an agent, user or client ends its sessions and refuses its tokens issued until now.`;

/** `mcp-pdp revoke …` (AdminService.Revoke; operator identity required). */
export async function revokeCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv,
    options: {
      session: { type: "string" },
      agent: { type: "string" },
      user: { type: "string" },
      client: { type: "string" },
      jti: { type: "string" },
      reason: { type: "string", default: "" },
      address: { type: "string", default: "127.0.0.1:50051" },
      token: { type: "string" },
    },
  });
  const given = (["session", "agent", "user", "client", "jti"] as const).filter((k) => values[k] !== undefined);
  if (given.length !== 1) throw new UsageError(USAGE);
  const kind = given[0]!;
  const value = values[kind]!;
  let target: RevokeRequest["target"];
  if (kind === "user") {
    const i = value.lastIndexOf("#");
    if (i <= 0 || i === value.length - 1) throw new UsageError("--user takes ISSUER#SUBJECT, e.g. https://login.example.org#alice");
    target = { case: "user", value: { $typeName: "mcppdp.v1.UserRef", issuer: value.slice(0, i), subject: value.slice(i + 1) } };
  } else {
    const field = { session: "sessionId", agent: "agentId", client: "clientId", jti: "tokenId" } as const;
    target = { case: field[kind], value } as RevokeRequest["target"];
  }
  const admin = createClient(AdminService, values.address);
  try {
    const res = await admin.revoke({ target, reason: values.reason }, values.token ? { bearer: values.token } : {});
    const at = res.revokedAt ? timestampDate(res.revokedAt).toISOString() : "";
    process.stdout.write(`revoked ${kind} ${value} at ${at}; ${res.sessionsEnded} session(s) ended\n`);
    return 0;
  } finally {
    admin.close();
  }
}
