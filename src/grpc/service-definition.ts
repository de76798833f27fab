import type { ServiceDefinition, MethodDefinition } from "@grpc/grpc-js";
import { fromBinary, toBinary, type DescMessage, type DescService, type MessageShape } from "@bufbuild/protobuf";

/** A request as the server receives it: decoded, or the reason it could not be. */
export type Decoded<T> = { readonly ok: true; readonly message: T } | { readonly ok: false; readonly error: Error };

function toBuffer(bytes: Uint8Array): Buffer {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

function isStreaming(kind: string, side: "request" | "response"): boolean {
  if (kind === "bidi_streaming") return true;
  return side === "request" ? kind === "client_streaming" : kind === "server_streaming";
}

/**
 * A grpc-js service definition for a protobuf-es service, as a client sees it: plain messages
 * both ways.
 */
export function clientDefinition(service: DescService): ServiceDefinition {
  const def: Record<string, MethodDefinition<unknown, unknown>> = {};
  for (const m of service.methods) {
    def[m.localName] = {
      path: `/${service.typeName}/${m.name}`,
      originalName: m.localName,
      requestStream: isStreaming(m.methodKind, "request"),
      responseStream: isStreaming(m.methodKind, "response"),
      requestSerialize: (msg) => toBuffer(toBinary(m.input, msg as MessageShape<DescMessage>)),
      requestDeserialize: (buf: Buffer) => fromBinary(m.input, buf),
      responseSerialize: (msg) => toBuffer(toBinary(m.output, msg as MessageShape<DescMessage>)),
      responseDeserialize: (buf: Buffer) => fromBinary(m.output, buf),
    };
  }
  return def as ServiceDefinition;
}

/**
 * The same definition for the server side, except that a request that does not decode is handed
 * to the handler as `{ ok: false }` instead of failing the call: unparseable input becomes a
 * DENY with a reason code, not a transport error. `maxBytes` may bound a method's request more
 * tightly than the transport does: a larger one is not even decoded.
 */
export function serverDefinition(service: DescService, maxBytes: Readonly<Record<string, number>> = {}): ServiceDefinition {
  const def = clientDefinition(service) as Record<string, MethodDefinition<unknown, unknown>>;
  for (const m of service.methods) {
    const base = def[m.localName]!;
    const limit = maxBytes[m.localName] ?? Infinity;
    def[m.localName] = {
      ...base,
      requestDeserialize: (buf: Buffer): Decoded<unknown> => {
        if (buf.length > limit) return { ok: false, error: new Error(`request message is larger than ${limit} bytes`) };
        try {
          return { ok: true, message: fromBinary(m.input, buf) };
        } catch (error) {
          return { ok: false, error: error as Error };
        }
      },
    };
  }
  return def as ServiceDefinition;
}
