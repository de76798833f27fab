import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { create, fromBinary } from "@bufbuild/protobuf";
import { FileDescriptorProtoSchema } from "@bufbuild/protobuf/wkt";
import { Health, HealthCheckResponse_ServingStatus as Serving } from "../../src/gen/grpc/health/v1/health_pb.js";
import {
  ServerReflection,
  ServerReflectionRequestSchema,
  type ServerReflectionResponse,
} from "../../src/gen/grpc/reflection/v1/reflection_pb.js";
import { clientDefinition } from "../../src/grpc/service-definition.js";
import { createClient } from "../../src/grpc/client.js";
import { startTestPdp, type TestPdp } from "../support/pdp.js";

let pdp: TestPdp;
before(async () => {
  pdp = await startTestPdp();
});
after(() => pdp.close());

test("grpc.health.v1: SERVING for the server and each API service; unknown service is NOT_FOUND", async () => {
  const health = createClient(Health, pdp.address);
  try {
    assert.equal((await health.check({ service: "" })).status, Serving.SERVING);
    assert.equal((await health.check({ service: "mcppdp.v1.AuthorizationService" })).status, Serving.SERVING);
    await assert.rejects(health.check({ service: "nope.Service" }), (e: grpc.ServiceError) => e.code === grpc.status.NOT_FOUND);
    const list = await health.list({});
    assert.ok(Object.keys(list.statuses).includes("mcppdp.v1.AuditService"));
  } finally {
    health.close();
  }
});

async function reflect(requests: Parameters<typeof create<typeof ServerReflectionRequestSchema>>[1][]): Promise<ServerReflectionResponse[]> {
  const Ctor = grpc.makeGenericClientConstructor(clientDefinition(ServerReflection), "ServerReflection");
  const client = new Ctor(pdp.address, grpc.credentials.createInsecure());
  const call = (client as any).serverReflectionInfo() as grpc.ClientDuplexStream<unknown, ServerReflectionResponse>;
  const out: ServerReflectionResponse[] = [];
  const done = new Promise<void>((resolve, reject) => {
    call.on("data", (r: ServerReflectionResponse) => out.push(r));
    call.on("end", resolve);
    call.on("error", reject);
  });
  for (const r of requests) call.write(create(ServerReflectionRequestSchema, r));
  call.end();
  await done;
  client.close();
  return out;
}

test("server reflection lists the services and serves their descriptors with dependencies", async () => {
  const [list, byService, missing] = await reflect([
    { messageRequest: { case: "listServices", value: "" } },
    { messageRequest: { case: "fileContainingSymbol", value: "mcppdp.v1.AuthorizationService" } },
    { messageRequest: { case: "fileContainingSymbol", value: "no.Such" } },
  ]);
  assert.equal(list!.messageResponse.case, "listServicesResponse");
  const names = (list!.messageResponse.value as { service: { name: string }[] }).service.map((s) => s.name);
  for (const n of ["mcppdp.v1.AuthorizationService", "mcppdp.v1.SessionService", "mcppdp.v1.AdminService", "mcppdp.v1.ApprovalService", "mcppdp.v1.AuditService", "grpc.health.v1.Health"])
    assert.ok(names.includes(n), n);
  assert.equal(byService!.messageResponse.case, "fileDescriptorResponse");
  const files = (byService!.messageResponse.value as { fileDescriptorProto: Uint8Array[] }).fileDescriptorProto.map((b) =>
    fromBinary(FileDescriptorProtoSchema, b),
  );
  assert.equal(files[0]!.name, "mcppdp/v1/authorization.proto");
  assert.ok(files[0]!.service.some((s) => s.name === "AuthorizationService" && s.method.some((m) => m.name === "Authorize")));
  const fileNames = files.map((f) => f.name);
  for (const dep of ["mcppdp/v1/common.proto", "google/protobuf/struct.proto", "google/protobuf/timestamp.proto"]) assert.ok(fileNames.includes(dep), dep);
  assert.equal(missing!.messageResponse.case, "errorResponse");
});

test("stop: health turns NOT_SERVING and the port closes", async () => {
  const other = await startTestPdp();
  const health = createClient(Health, other.address);
  const watch = new Promise<Serving[]>((resolve) => {
    const Ctor = grpc.makeGenericClientConstructor(clientDefinition(Health), "Health");
    const c = new Ctor(other.address, grpc.credentials.createInsecure());
    const seen: Serving[] = [];
    const stream = (c as any).watch(create((Health.method.watch.input), { service: "" })) as grpc.ClientReadableStream<{ status: Serving }>;
    stream.on("data", (r) => {
      seen.push(r.status);
      if (r.status === Serving.NOT_SERVING) {
        c.close();
        resolve(seen);
      }
    });
    stream.on("error", () => resolve(seen));
  });
  assert.equal((await health.check({ service: "" })).status, Serving.SERVING);
  await new Promise((r) => setTimeout(r, 50));
  await other.close();
  assert.deepEqual(await watch, [Serving.SERVING, Serving.NOT_SERVING]);
  await assert.rejects(health.check({ service: "" }, { timeoutMs: 500 }));
  health.close();
});
