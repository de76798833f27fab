import { timestampDate } from "@bufbuild/protobuf/wkt";
import { AdminService, type RevokeRequest } from "../gen/mcppdp/v1/admin_pb.js";
import type { CliIo } from "./cli-io.js";
import { dial, resolveAddress } from "./pdp-client.js";
import { UsageError } from "./usage-error.js";

/** The options of `mcp-pdp revoke`. */
export interface RevokeOptions {
  readonly session?: string | undefined;
  readonly agent?: string | undefined;
  readonly user?: string | undefined;
  readonly client?: string | undefined;
  readonly jti?: string | undefined;
  readonly reason?: string | undefined;
  readonly address?: string | undefined;
  readonly token?: string | undefined;
  readonly json?: boolean | undefined;
}

const KINDS = ["session", "agent", "user", "client", "jti"] as const;

/** `mcp-pdp revoke …` (AdminService.Revoke; operator identity required). */
export async function revoke(values: RevokeOptions, io: CliIo): Promise<number> {
  const given = KINDS.filter((k) => values[k] !== undefined);
  if (given.length !== 1) throw new UsageError("give exactly one of --session, --agent, --user, --client, --jti");
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
  const admin = dial(AdminService, resolveAddress(values.address));
  try {
    const res = await admin.revoke({ target, reason: values.reason ?? "" }, values.token ? { bearer: values.token } : {});
    const at = res.revokedAt ? timestampDate(res.revokedAt).toISOString() : "";
    io.out(
      values.json
        ? `${JSON.stringify({ revoked: kind, value, revokedAt: at, sessionsEnded: Number(res.sessionsEnded) })}\n`
        : `revoked ${kind} ${value} at ${at}; ${res.sessionsEnded} session(s) ended\n`,
    );
    return 0;
  } finally {
    admin.close();
  }
}
