import type { ParseArgsConfig } from "node:util";
import { DEV_MCP_SERVER_URI, mintDevToken } from "../identity/dev-issuer.js";
import { UsageError } from "./usage-error.js";

/** Options every command that speaks for an enforcement point shares (`check`, `session`). */
export const IDENTITY_OPTIONS = {
  address: { type: "string", default: "127.0.0.1:50051" },
  server: { type: "string", default: DEV_MCP_SERVER_URI },
  client: { type: "string", default: "dev-client" },
  purpose: { type: "string", default: "research" },
  "user-token": { type: "string" },
  "workload-token": { type: "string" },
  "caller-token": { type: "string" },
  dev: { type: "boolean", default: false },
  agent: { type: "string" },
  user: { type: "string" },
  scope: { type: "string", multiple: true },
  json: { type: "boolean", default: false },
  help: { type: "boolean", default: false },
} as const satisfies ParseArgsConfig["options"];

/** The usage lines for {@link IDENTITY_OPTIONS}. */
export const IDENTITY_USAGE = `  [--server URI] [--client ID] [--purpose P] [--address HOST:PORT] [--json]
  [--user-token JWT] [--workload-token JWT] [--caller-token JWT] [--dev] [--agent SPIFFE_ID] [--user SUB] [--scope S]
With --dev, tokens not given are minted by the development issuer (development mode only).`;

/** The parsed identity options. */
export interface IdentityValues {
  readonly server: string;
  readonly client: string;
  readonly dev: boolean;
  readonly agent?: string | undefined;
  readonly user?: string | undefined;
  readonly scope?: string[] | undefined;
  readonly "user-token"?: string | undefined;
  readonly "workload-token"?: string | undefined;
}

/** The user and workload tokens: given, or minted by the dev issuer with `--dev`. */
export async function tokensFrom(values: IdentityValues): Promise<{ userToken: string; workloadToken: string }> {
  const userToken =
    values["user-token"] ??
    (values.dev
      ? await mintDevToken("user", {
          audience: values.server,
          clientId: values.client,
          ...(values.user && { subject: values.user }),
          ...(values.scope && { scopes: values.scope.flatMap((s) => s.split(" ")) }),
        })
      : undefined);
  const workloadToken = values["workload-token"] ?? (values.dev ? await mintDevToken("workload", { ...(values.agent && { subject: values.agent }) }) : undefined);
  if (!userToken || !workloadToken) throw new UsageError("give --user-token and --workload-token, or --dev to mint development tokens");
  return { userToken, workloadToken };
}
