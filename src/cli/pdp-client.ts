import * as grpc from "@grpc/grpc-js";
import type { DescMessage, MessageInitShape } from "@bufbuild/protobuf";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import { clientAddress } from "../config/client-address.js";
import { PdpError } from "../errors.js";
import { createClient, type CallOptions, type Client, type ClientOptions } from "../grpc/client.js";
import { CliFailure } from "./cli-io.js";

/**
 * How long a CLI call may take, connection included. Generous: a cold CLI process on a busy
 * machine can spend seconds resolving and connecting before the PDP sees the call (the old 5 s
 * deadline failed `session end` under load).
 */
export const CLI_CALL_TIMEOUT_MS = 30_000;

/** The address to dial: `--address`, else MCP_PDP_ADDRESS, else the PDP's configured port. */
export function resolveAddress(flag: string | undefined): string {
  try {
    return clientAddress(flag);
  } catch (err) {
    throw new CliFailure(PdpError.from(err, "CONFIG_INVALID").message, 2);
  }
}

/** The sentence a user reads when nothing answers at `address`. */
export function noPdpMessage(address: string): string {
  return `no PDP answers at ${address} — start one with \`npm start\`, or pass --address`;
}

/**
 * Turns a failed call into what the user should read. A transport failure (no connection, name
 * not resolved) has no `pdp-code` metadata — unlike UNAVAILABLE sent by a PDP whose store is down.
 */
export function explainCallError(err: unknown, address: string): unknown {
  const e = err as Partial<grpc.ServiceError>;
  if (typeof e?.code !== "number" || typeof e.details !== "string") return err;
  const fromPdp = (e.metadata?.get("pdp-code").length ?? 0) > 0;
  switch (e.code) {
    case grpc.status.UNAVAILABLE:
      return new CliFailure(fromPdp ? e.details ?? "unavailable" : noPdpMessage(address), 1);
    case grpc.status.DEADLINE_EXCEEDED:
      return new CliFailure(`the PDP at ${address} did not answer within ${CLI_CALL_TIMEOUT_MS / 1000} s`, 1);
    case grpc.status.INVALID_ARGUMENT:
    case grpc.status.UNAUTHENTICATED:
    case grpc.status.PERMISSION_DENIED:
      return new CliFailure(e.details ?? grpc.status[e.code], 2);
    default:
      return new CliFailure(e.details || grpc.status[e.code] || String(e.code), 1);
  }
}

/**
 * A client for `service` at `address` whose calls default to {@link CLI_CALL_TIMEOUT_MS} and fail
 * with a {@link CliFailure} a user can read.
 */
export function dial<M extends GenServiceMethods>(service: GenService<M>, address: string, options: ClientOptions = {}): Client<M> {
  const client = createClient(service, address, options) as unknown as Record<string, (req: unknown, call?: CallOptions) => Promise<unknown>> & { close(): void };
  const out: Record<string, unknown> = { close: () => client.close() };
  for (const m of service.methods) {
    if (m.methodKind !== "unary") continue;
    const call = client[m.localName]!;
    out[m.localName] = (request: MessageInitShape<DescMessage>, options: CallOptions = {}) =>
      call(request, { timeoutMs: CLI_CALL_TIMEOUT_MS, ...options }).catch((err: unknown) => {
        throw explainCallError(err, address);
      });
  }
  return out as Client<M>;
}
