import type { Server } from "@grpc/grpc-js";
import { toBinary, type DescFile } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { ReflectionService } from "@grpc/reflection";

/** What `@grpc/reflection` reads from a package definition: each entry's serialized file descriptors. */
type PackageDefinition = ConstructorParameters<typeof ReflectionService>[0];

/**
 * The files (with every file they import, each once) as the package definition `@grpc/reflection`
 * indexes. It reads only `fileDescriptorProtos`, so the descriptors protobuf-es generated are
 * handed over as they are — no .proto files are loaded at run time.
 */
function packageDefinition(files: readonly DescFile[]): PackageDefinition {
  const seen = new Map<string, Buffer>();
  const visit = (f: DescFile) => {
    if (seen.has(f.proto.name)) return;
    const bytes = toBinary(FileDescriptorProtoSchema, f.proto);
    seen.set(f.proto.name, Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
    f.dependencies.forEach(visit);
  };
  files.forEach(visit);
  return { "mcp-pdp": { format: "Protocol Buffer 3 DescriptorProto", type: {}, fileDescriptorProtos: [...seen.values()] } };
}

/**
 * gRPC server reflection, v1 and v1alpha (`@grpc/reflection`), listing `services` and serving the
 * descriptors of `files`, so that grpcurl, `buf curl` and Postman can list and call the API
 * without the .proto files.
 */
export function addReflection(server: Pick<Server, "addService">, services: readonly string[], files: readonly DescFile[]): void {
  new ReflectionService(packageDefinition(files), { services: [...services] }).addToServer(server);
}
