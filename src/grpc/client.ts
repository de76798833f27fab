import * as grpc from "@grpc/grpc-js";
import { create, type DescMessage, type MessageInitShape, type MessageShape } from "@bufbuild/protobuf";
import type { GenService, GenServiceMethods } from "@bufbuild/protobuf/codegenv2";
import { clientDefinition } from "./service-definition.js";

/** Per-call options for {@link createClient}. */
export interface CallOptions {
  /** Deadline in milliseconds from now. Default 5000. */
  readonly timeoutMs?: number;
  /** A bearer credential sent as `authorization: Bearer …` (the caller's own token). */
  readonly bearer?: string;
  /** Extra metadata. */
  readonly metadata?: grpc.Metadata;
}

type UnaryMethods<M extends GenServiceMethods> = {
  [K in keyof M as M[K]["methodKind"] extends "unary" ? K : never]: (
    request: MessageInitShape<M[K]["input"]>,
    options?: CallOptions,
  ) => Promise<MessageShape<M[K]["output"]>>;
};

/** A promise-based client for the unary methods of a service, plus `close()`. */
export type Client<M extends GenServiceMethods> = UnaryMethods<M> & { close(): void };

/** Options for {@link createClient}. */
export interface ClientOptions {
  /** Channel credentials. Default insecure (plaintext): fine for loopback development only. */
  readonly credentials?: grpc.ChannelCredentials;
  /** Extra grpc-js channel options. */
  readonly channelOptions?: grpc.ChannelOptions;
}

/** Creates a promise-based grpc-js client for a protobuf-es service. */
export function createClient<M extends GenServiceMethods>(
  service: GenService<M>,
  address: string,
  options: ClientOptions = {},
): Client<M> {
  const Ctor = grpc.makeGenericClientConstructor(clientDefinition(service), service.typeName);
  const raw = new Ctor(address, options.credentials ?? grpc.credentials.createInsecure(), options.channelOptions);
  const out: Record<string, unknown> = { close: () => raw.close() };
  for (const m of service.methods) {
    if (m.methodKind !== "unary") continue;
    out[m.localName] = (request: MessageInitShape<DescMessage>, call: CallOptions = {}) =>
      new Promise((resolve, reject) => {
        const md = call.metadata?.clone() ?? new grpc.Metadata();
        if (call.bearer) md.set("authorization", `Bearer ${call.bearer}`);
        const fn = (raw as unknown as Record<string, Function>)[m.localName]!;
        fn.call(
          raw,
          create(m.input, request),
          md,
          { deadline: Date.now() + (call.timeoutMs ?? 5000) },
          (err: grpc.ServiceError | null, res: unknown) => (err ? reject(err) : resolve(res)),
        );
      });
  }
  return out as Client<M>;
}
