/** The one way a door makes a request's {@link RequestContext}. */
import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { Caller, RequestContext } from "./types.js";

/** What a door learnt from its wire besides the question (see {@link RequestContext}). */
export interface RequestContextOptions {
  /** The enforcement point presents its own stand-in agent (context `agent_attestation` = `client`). */
  readonly agentStandIn?: boolean;
}

/**
 * A fresh decision id and a child logger bound to it (plus `bindings`), made on first use: most
 * decisions log nothing, and a child logger serialises its bindings.
 */
export function requestContext(
  caller: Caller,
  root: Logger,
  bindings: Record<string, unknown>,
  receivedAt: bigint = process.hrtime.bigint(),
  options: RequestContextOptions = {},
): RequestContext {
  const decisionId = randomUUID();
  let logger: Logger | undefined;
  return {
    decisionId,
    caller,
    receivedAt,
    ...(options.agentStandIn && { agentStandIn: true }),
    get logger() {
      return (logger ??= root.child({ decisionId, ...bindings }));
    },
  };
}
