import type { ServiceError } from "@grpc/grpc-js";
import { status } from "@grpc/grpc-js";

/**
 * Closed failure codes of the PEP library:
 * - `PDP_UNAVAILABLE`: the PDP could not be reached, did not answer within the deadline, or
 *   answered with an RPC error. The PEP refuses the call (fail closed).
 */
export type PepErrorCode = "PDP_UNAVAILABLE";

/** The one error type of the PEP library. Its message never contains a token. */
export class PepError extends Error {
  override readonly name = "PepError";
  /** The closed failure code. */
  readonly code: PepErrorCode;
  /** The gRPC status name when the failure came from an RPC (e.g. `DEADLINE_EXCEEDED`). */
  readonly grpcStatus?: string;

  constructor(code: PepErrorCode, message: string, options: { cause?: unknown; grpcStatus?: string } = {}) {
    super(message, { cause: options.cause });
    this.code = code;
    if (options.grpcStatus !== undefined) this.grpcStatus = options.grpcStatus;
  }

  /** Normalises whatever an RPC threw into a `PDP_UNAVAILABLE` PepError. */
  static from(err: unknown, rpc: string): PepError {
    if (err instanceof PepError) return err;
    const code = (err as Partial<ServiceError> | undefined)?.code;
    const grpcStatus = typeof code === "number" ? (status[code] ?? String(code)) : undefined;
    const what = grpcStatus === "DEADLINE_EXCEEDED" ? "did not answer in time" : grpcStatus === "UNAVAILABLE" ? "is unreachable" : "failed";
    return new PepError("PDP_UNAVAILABLE", `the PDP ${what} (${rpc}${grpcStatus ? `: ${grpcStatus}` : ""})`, {
      cause: err,
      ...(grpcStatus !== undefined && { grpcStatus }),
    });
  }
}
