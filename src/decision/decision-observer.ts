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

/** A decision evaluated again under the shadow policy set. */
export interface ShadowEvent {
  readonly kind: DecisionKind;
  /** The shadow set gave the same decision, reason code and determining policies. */
  readonly agree: boolean;
  /** When the shadow set's decision differs from the live one: which way. */
  readonly flip: "allow_to_deny" | "deny_to_allow" | undefined;
}

/**
 * Told about every decision once it is recorded (metrics, trace attributes). The core owns this
 * interface; the implementations live at the edge (`telemetry/`), so the core never imports a
 * metrics or tracing library. Must not throw and must not wait: it runs on the response path.
 */
export interface DecisionObserver {
  decided(event: DecisionEvent): void;
  /** A decision was evaluated again under the shadow policy set (only while one is in force). */
  shadowed?(event: ShadowEvent): void;
  /** The novelty store evicted this many relations for room (optional). */
  noveltyEvicted?(count: number): void;
}

/** An observer that does nothing (the default: callers never check for one). */
export const noopDecisionObserver: DecisionObserver = { decided: () => {} };
