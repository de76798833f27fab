import type { ServerDuplexStream, UntypedServiceImplementation } from "@grpc/grpc-js";
import { create, toBinary, type DescFile, type DescMessage, type DescEnum } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import {
  ServerReflectionResponseSchema,
  type ServerReflectionRequest,
  type ServerReflectionResponse,
} from "../gen/grpc/reflection/v1/reflection_pb.js";
import type { Decoded } from "../grpc/service-definition.js";

const NOT_FOUND = 5;
const UNIMPLEMENTED = 12;

function addMessages(symbols: Map<string, DescFile>, file: DescFile, items: readonly (DescMessage | DescEnum)[]): void {
  for (const item of items) {
    symbols.set(item.typeName, file);
    if (item.kind === "message") addMessages(symbols, file, [...item.nestedMessages, ...item.nestedEnums]);
  }
}

/** Indexes files (with their transitive dependencies) by file name and by fully-qualified symbol. */
function index(roots: readonly DescFile[]) {
  const files = new Map<string, DescFile>();
  const symbols = new Map<string, DescFile>();
  const visit = (f: DescFile) => {
    if (files.has(f.proto.name)) return;
    files.set(f.proto.name, f);
    f.dependencies.forEach(visit);
    addMessages(symbols, f, [...f.messages, ...f.enums]);
    for (const s of f.services) {
      symbols.set(s.typeName, f);
      for (const m of s.methods) symbols.set(`${s.typeName}.${m.name}`, f);
    }
  };
  roots.forEach(visit);
  return { files, symbols };
}

/** A file and everything it imports, each once, as serialized FileDescriptorProtos. */
function withDependencies(file: DescFile): Uint8Array[] {
  const seen = new Set<string>();
  const out: Uint8Array[] = [];
  const visit = (f: DescFile) => {
    if (seen.has(f.proto.name)) return;
    seen.add(f.proto.name);
    out.push(toBinary(FileDescriptorProtoSchema, f.proto));
    f.dependencies.forEach(visit);
  };
  visit(file);
  return out;
}

/**
 * gRPC server reflection (grpc.reflection.v1) for the given services' files, so that tools like
 * grpcurl can list and call the API without the .proto files.
 */
export function createReflectionService(serviceNames: readonly string[], files: readonly DescFile[]): UntypedServiceImplementation {
  const { files: byName, symbols } = index(files);
  const answer = (req: ServerReflectionRequest): ServerReflectionResponse => {
    const base = { validHost: req.host, originalRequest: req };
    const r = req.messageRequest;
    const error = (code: number, message: string) =>
      create(ServerReflectionResponseSchema, { ...base, messageResponse: { case: "errorResponse", value: { errorCode: code, errorMessage: message } } });
    const file = (f: DescFile | undefined, what: string) =>
      f
        ? create(ServerReflectionResponseSchema, {
            ...base,
            messageResponse: { case: "fileDescriptorResponse", value: { fileDescriptorProto: withDependencies(f) } },
          })
        : error(NOT_FOUND, `${what} not found`);
    switch (r.case) {
      case "listServices":
        return create(ServerReflectionResponseSchema, {
          ...base,
          messageResponse: { case: "listServicesResponse", value: { service: serviceNames.map((name) => ({ name })) } },
        });
      case "fileByFilename":
        return file(byName.get(r.value), `file ${r.value}`);
      case "fileContainingSymbol":
        return file(symbols.get(r.value), `symbol ${r.value}`);
      default:
        return error(UNIMPLEMENTED, "not supported");
    }
  };
  return {
    serverReflectionInfo(call: ServerDuplexStream<Decoded<ServerReflectionRequest>, ServerReflectionResponse>) {
      call.on("data", (req: Decoded<ServerReflectionRequest>) => {
        if (req.ok) call.write(answer(req.message));
      });
      call.on("end", () => call.end());
      call.on("error", () => call.end());
    },
  };
}
