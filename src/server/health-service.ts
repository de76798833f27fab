import type { ServerWritableStream, UntypedServiceImplementation, sendUnaryData, ServerUnaryCall } from "@grpc/grpc-js";
import { status as grpcStatus } from "@grpc/grpc-js";
import { create } from "@bufbuild/protobuf";
import {
  HealthCheckResponseSchema,
  HealthCheckResponse_ServingStatus as ServingStatus,
  HealthListResponseSchema,
  type HealthCheckRequest,
  type HealthCheckResponse,
} from "../gen/grpc/health/v1/health_pb.js";
import type { Decoded } from "../grpc/service-definition.js";

/** The standard grpc.health.v1 service, with a status per service name ("" is the whole server). */
export interface HealthService {
  /** Sets every service's status at once. */
  setServing(serving: boolean): void;
  /** Sets the status of some services (and of the whole server, ""). */
  setStatus(services: readonly string[], serving: boolean): void;
  /** NOT_SERVING, then ends every Watch stream so a graceful stop is not held open by watchers. */
  shutdown(): void;
  /** The handlers to register under `grpc.health.v1.Health`. */
  readonly implementation: UntypedServiceImplementation;
}

/** Creates the health service for the given service names. */
export function createHealthService(services: readonly string[]): HealthService {
  const statuses = new Map<string, ServingStatus>(["", ...services].map((s) => [s, ServingStatus.NOT_SERVING]));
  const watchers = new Set<{ service: string; call: ServerWritableStream<unknown, HealthCheckResponse> }>();
  const current = (service: string) => statuses.get(service) ?? ServingStatus.SERVICE_UNKNOWN;
  const response = (service: string) => create(HealthCheckResponseSchema, { status: current(service) });

  return {
    setServing(serving) {
      for (const s of statuses.keys()) statuses.set(s, serving ? ServingStatus.SERVING : ServingStatus.NOT_SERVING);
      for (const w of watchers) w.call.write(response(w.service));
    },
    setStatus(services, serving) {
      for (const s of services) if (statuses.has(s)) statuses.set(s, serving ? ServingStatus.SERVING : ServingStatus.NOT_SERVING);
      for (const w of watchers) if (services.includes(w.service)) w.call.write(response(w.service));
    },
    shutdown() {
      this.setServing(false);
      for (const w of watchers) w.call.end();
      watchers.clear();
    },
    implementation: {
      check(call: ServerUnaryCall<Decoded<HealthCheckRequest>, HealthCheckResponse>, cb: sendUnaryData<HealthCheckResponse>) {
        if (!call.request.ok) return cb({ code: grpcStatus.INVALID_ARGUMENT, details: "request does not decode" });
        const service = call.request.message.service;
        if (!statuses.has(service)) return cb({ code: grpcStatus.NOT_FOUND, details: "unknown service" });
        cb(null, response(service));
      },
      list(_call: ServerUnaryCall<unknown, unknown>, cb: sendUnaryData<unknown>) {
        const out: Record<string, HealthCheckResponse> = {};
        for (const s of statuses.keys()) out[s] = response(s);
        cb(null, create(HealthListResponseSchema, { statuses: out }));
      },
      watch(call: ServerWritableStream<Decoded<HealthCheckRequest>, HealthCheckResponse>) {
        const service = call.request.ok ? call.request.message.service : "";
        const w = { service, call };
        watchers.add(w);
        call.write(response(service));
        call.on("cancelled", () => watchers.delete(w));
        call.on("close", () => watchers.delete(w));
      },
    },
  };
}
