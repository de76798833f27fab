import { mintDevToken, type DevTokenKind } from "../identity/dev-issuer.js";
import type { CliIo } from "./cli-io.js";

/** The kinds of token `dev token` mints. */
export const DEV_TOKEN_KINDS = ["user", "workload", "caller"] as const satisfies readonly DevTokenKind[];

/** The options of `mcp-pdp dev token`. */
export interface DevTokenOptions {
  readonly sub?: string | undefined;
  readonly aud?: string[] | undefined;
  readonly client?: string | undefined;
  readonly scope?: string[] | undefined;
  readonly ttl?: number | undefined;
  readonly act?: string | undefined;
}

/** `mcp-pdp dev token user|workload|caller …`: prints a DEVELOPMENT token. */
export async function devToken(kind: DevTokenKind, values: DevTokenOptions, io: CliIo): Promise<number> {
  const token = await mintDevToken(kind, {
    ...(values.sub && { subject: values.sub }),
    ...(values.aud && { audience: values.aud.length === 1 ? values.aud[0]! : values.aud }),
    ...(values.client && { clientId: values.client }),
    ...(values.scope && { scopes: values.scope.flatMap((s) => s.split(" ")) }),
    ...(values.ttl !== undefined && { ttlSeconds: values.ttl }),
    ...(values.act && { act: { sub: values.act } }),
  });
  io.out(`${token}\n`);
  return 0;
}
