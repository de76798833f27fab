import { Option, type Command } from "commander";
import { DEV_MCP_SERVER_URI, mintDevToken } from "../identity/dev-issuer.js";
import { addressOption, collect, jsonOption } from "./options.js";
import { UsageError } from "./usage-error.js";

/**
 * Adds the options every command that speaks for an enforcement point shares (`check`,
 * `session open`): who asks (server, client, purpose), the tokens (or `--dev` to mint them), the
 * address and `--json`.
 */
export function withIdentityOptions(cmd: Command): Command {
  return cmd
    .option("--server <uri>", "the MCP server asking (its id in the policies)", DEV_MCP_SERVER_URI)
    .option("--client <id>", "the MCP client the user works through", "dev-client")
    .option("--purpose <purpose>", "the declared purpose of the task", "research")
    .option("--user-token <jwt>", "the user's access token")
    .option("--workload-token <jwt>", "the agent workload's token (e.g. a JWT-SVID)")
    .option("--caller-token <jwt>", "the PEP's own bearer credential for the call")
    .option("--dev", "mint the tokens not given from the development issuer (development mode only)")
    .option("--agent <spiffe-id>", "with --dev: the agent workload (default: the research assistant)")
    .option("--user <sub>", "with --dev: the user's subject (default: alice)")
    .addOption(new Option("--scope <scope>", "with --dev: a scope in the user's token (repeatable)").argParser(collect))
    .addOption(addressOption())
    .addOption(jsonOption());
}

/** The parsed identity options. */
export interface IdentityValues {
  readonly server: string;
  readonly client: string;
  readonly dev?: boolean | undefined;
  readonly agent?: string | undefined;
  readonly user?: string | undefined;
  readonly scope?: string[] | undefined;
  readonly userToken?: string | undefined;
  readonly workloadToken?: string | undefined;
}

/** The user and workload tokens: given, or minted by the dev issuer with `--dev`. */
export async function tokensFrom(values: IdentityValues): Promise<{ userToken: string; workloadToken: string }> {
  const userToken =
    values.userToken ??
    (values.dev
      ? await mintDevToken("user", {
          audience: values.server,
          clientId: values.client,
          ...(values.user && { subject: values.user }),
          ...(values.scope && { scopes: values.scope.flatMap((s) => s.split(" ")) }),
        })
      : undefined);
  const workloadToken = values.workloadToken ?? (values.dev ? await mintDevToken("workload", { ...(values.agent && { subject: values.agent }) }) : undefined);
  if (!userToken || !workloadToken) throw new UsageError("give --user-token and --workload-token, or --dev to mint development tokens");
  return { userToken, workloadToken };
}
