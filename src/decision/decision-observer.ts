import type { ReasonCode } from "../errors.js";
import type { NoveltyKind } from "../session/novelty-types.js";
import type { DecisionKind } from "./types.js";

/** One decision as observers see it: closed sets only (no ids, no names), so it can label metrics. */
export interface DecisionEvent {
  readonly kind: DecisionKind;
  readonly allow: boolean;
  readonly reasonCode: ReasonCode;
  /** From the door receiving the request to the outcome being recorded, in microseconds. */
  readonly latencyUs: number;
  /** The relation kinds this decision's request established for the first time (open_session). */
  readonly firstSeen?: readonly NoveltyKind[];
}

/**
 * Told about every decision once it is recorded (metrics, trace attributes). The core owns this
 * interface; the implementations live at the edge (`telemetry/`), so the core never imports a
 * metrics or tracing library. Must not throw and must not wait: it runs on the response path.
 */
export interface DecisionObserver {
  decided(event: DecisionEvent): void;
  /** The novelty store evicted this many relations for room (optional). */
  noveltyEvicted?(count: number): void;
}

/** An observer that does nothing (the default: callers never check for one). */
export const noopDecisionObserver: DecisionObserver = { decided: () => {} };
