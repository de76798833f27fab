import { create, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import * as grpc from "@grpc/grpc-js";
import type { Logger } from "pino";
import { requestContext } from "../decision/request-context.js";
import type { RequestContext } from "../decision/types.js";
import { PdpError } from "../errors.js";
import { AGENT_ATTESTATION_METADATA } from "../grpc/agent-attestation-metadata.js";
import { serverDefinition, type Decoded } from "../grpc/service-definition.js";
import { serverSpan, type Tracing } from "../telemetry/tracing.js";
import type { CallerAuthenticator } from "./caller-auth.js";
import { toServiceError } from "./grpc-status.js";

/**
 * The handler of one unary RPC, typed by the service descriptor: the decoded request (or why it did
 * not decode) and the request's context (decision id, authenticated caller, child logger) in, the
 * response out. A thrown error becomes a gRPC status (never internals).
 */
export type UnaryHandler<M extends GenServiceMethods[string]> = (
  request: Decoded<MessageShape<M["input"]>>,
  ctx: RequestContext,
) => Promise<MessageInitShape<M["output"]>>;

/** Handlers for every unary method of a service. */
export type ServiceHandlers<M extends GenServiceMethods> = { readonly [K in keyof M]: UnaryHandler<M[K]> };

/** What {@link implement} needs. */
export interface ImplementDeps {
  readonly authenticate: CallerAuthenticator;
  readonly logger: Logger;
  /**
   * With tracing on: a SERVER span per RPC, parented by the `traceparent` gRPC metadata, with the
   * decision id as an attribute. Absent: no tracing code runs.
   */
  readonly tracing?: Tracing;
}

/** The first value of a metadata key, as a string. */
function metadataValue(metadata: grpc.Metadata, key: string): string | undefined {
  const v = metadata.get(key)[0];
  return typeof v === "string" ? v : undefined;
}

/** The request's context: a fresh decision id, the caller (or why it is not authenticated), a child logger. */
async function requestContextOf(call: grpc.ServerUnaryCall<unknown, unknown>, deps: ImplementDeps, method: string): Promise<RequestContext> {
  const receivedAt = process.hrtime.bigint();
  const caller = await deps.authenticate(call).catch((err: unknown) => PdpError.from(err, "CALLER_UNAUTHORIZED"));
  const agentStandIn = call.metadata.get(AGENT_ATTESTATION_METADATA).length > 0;
  return requestContext(caller, deps.logger, { rpc: method, caller: caller instanceof PdpError ? undefined : caller.id }, receivedAt, { agentStandIn });
}

/**
 * Registers a service's typed handlers on a grpc-js server: requests that do not decode reach the
 * handler as `{ ok: false }` (so a decision can record a DENY), every call is authenticated first,
 * and errors map to gRPC statuses at this edge only.
 */
export function implement<M extends GenServiceMethods>(
  server: grpc.Server,
  service: GenService<M>,
  handlers: ServiceHandlers<M>,
  deps: ImplementDeps,
  maxBytes: Partial<Record<keyof M & string, number>> = {},
): void {
  const impl: grpc.UntypedServiceImplementation = {};
  for (const method of service.methods) {
    const handler = handlers[method.localName as keyof M] as UnaryHandler<M[keyof M]>;
    const rpc = async (call: grpc.ServerUnaryCall<Decoded<never>, unknown>, onContext?: (ctx: RequestContext) => void) => {
      const ctx = await requestContextOf(call, deps, method.name);
      onContext?.(ctx);
      try {
        return await handler(call.request, ctx);
      } catch (err) {
        const e = PdpError.from(err);
        if (e.code === "INTERNAL") ctx.logger.error({ err: e.cause ?? err }, "RPC failed");
        throw e;
      }
    };
    const tracing = deps.tracing;
    const spanName = `${service.typeName}/${method.name}`;
    const attributes = { "rpc.system": "grpc", "rpc.service": service.typeName, "rpc.method": method.name };
    impl[method.localName] = ((call: grpc.ServerUnaryCall<Decoded<never>, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      const answered = tracing
        ? serverSpan(tracing, spanName, attributes, (key) => metadataValue(call.metadata, key), (span) =>
            rpc(call, (ctx) => span.setAttribute("mcppdp.decision_id", ctx.decisionId)),
          )
        : rpc(call);
      answered.then(
        (res) => callback(null, create(method.output, res as never)),
        (err: unknown) => callback(toServiceError(err)),
      );
    }) as grpc.handleUnaryCall<unknown, unknown>;
  }
  server.addService(serverDefinition(service, maxBytes as Record<string, number>), impl);
}

/** The decoded message, or INVALID_REQUEST (for RPCs that answer failures with a status). */
export function decodedOrThrow<T>(request: Decoded<T>): T {
  if (!request.ok) throw new PdpError("INVALID_REQUEST", "request message does not decode");
  return request.message;
}
