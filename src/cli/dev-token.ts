import { parseArgs } from "node:util";
import { mintDevToken, type DevTokenKind } from "../identity/dev-issuer.js";
import { UsageError } from "./usage-error.js";

/** `mcp-pdp dev token user|workload|caller [--sub S] [--aud A] [--client C] [--scope S …] [--ttl SECONDS]` */
export async function devToken(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      sub: { type: "string" },
      aud: { type: "string", multiple: true },
      client: { type: "string" },
      scope: { type: "string", multiple: true },
      ttl: { type: "string" },
      act: { type: "string" },
    },
  });
  const kind = positionals[0];
  if (kind !== "user" && kind !== "workload" && kind !== "caller")
    throw new UsageError("usage: mcp-pdp dev token user|workload|caller [--sub S] [--aud A] [--client C] [--scope S] [--ttl SECONDS] [--act SPIFFE_ID]");
  const ttl = values.ttl === undefined ? undefined : Number(values.ttl);
  if (ttl !== undefined && (!Number.isInteger(ttl) || ttl <= 0)) throw new UsageError("--ttl must be a positive number of seconds");
  const token = await mintDevToken(kind as DevTokenKind, {
    ...(values.sub && { subject: values.sub }),
    ...(values.aud && { audience: values.aud.length === 1 ? values.aud[0]! : values.aud }),
    ...(values.client && { clientId: values.client }),
    ...(values.scope && { scopes: values.scope.flatMap((s) => s.split(" ")) }),
    ...(ttl !== undefined && { ttlSeconds: ttl }),
    ...(values.act && { act: { sub: values.act } }),
  });
  process.stdout.write(`${token}\n`);
  return 0;
}
