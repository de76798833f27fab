/** The policy module: Cedar loading, entity building, evaluation, hot reload and decision cases. */
export type * from "./types.js";
export { V8_GUARD_FLAG } from "./v8-guard.js";
export { digestPolicyDir, digestSnapshot, loadPolicySet, loadPolicySnapshot } from "./load-policy-set.js";
export type { LoadedPolicySet, LoadPolicyOptions, PolicyInfo } from "./load-policy-set.js";
export { MANIFEST_FILE, parseManifest, readPolicySnapshot, resolvePolicyRoot, sameSnapshot, verifyManifest } from "./policy-snapshot.js";
export type { ManifestEntry, ParsedManifest, PolicySnapshot } from "./policy-snapshot.js";
export { describeRemovals, removalsBetween } from "./policy-removals.js";
export type { PolicyRemovals } from "./policy-removals.js";
export { cedarUid, createEntityBuilder } from "./entity-builder.js";
export type { CedarRequest, CedarUid, EntityBuilder, EntityTypeName } from "./entity-builder.js";
export { createCedarEngine, decide, DEFAULT_SLOT, FAILED_FORBID } from "./cedar-engine.js";
export type { CedarEngineOptions } from "./cedar-engine.js";
export { loadDecisionCases, parseCaseFile, resolveCaseInput, runDecisionCase, runDecisionCases } from "./decision-cases.js";
export type { DecisionCase, DecisionCaseResult, ExpectedDecision } from "./decision-cases.js";
export { createPolicyManager } from "./policy-manager.js";
export type { PolicyManager, PolicyManagerMetrics, PolicyManagerOptions, ReloadResult } from "./policy-manager.js";
export { planPartitions, schemaActions } from "./policy-partition.js";
export type { PartitionPlan, PlanOptions, PolicyPartition, PolicyScopes, SchemaAction, ScopedPolicy } from "./policy-partition.js";
