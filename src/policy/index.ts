/** The policy module: Cedar loading, entity building, evaluation, hot reload and decision cases. */
export type * from "./types.js";
export { V8_GUARD_FLAG } from "./v8-guard.js";
export { digestPolicyDir, loadPolicySet } from "./load-policy-set.js";
export type { LoadedPolicySet, PolicyInfo } from "./load-policy-set.js";
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
