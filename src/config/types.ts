/** The configuration types, each inferred from the schema of the module that owns it. Re-exports only. */
export type { PdpConfig } from "./pdp-config.js";
export type { AuditConfig, AuditSink } from "../audit/config.js";
export type { PoliciesConfig } from "../policy/config.js";
export type { IdentityConfig, IssuerConfig, WorkloadIssuerConfig } from "../identity/config.js";
export type { TlsConfig } from "../server/config.js";
export type { RedisStoreConfig, SessionConfig, StoreConfig } from "../session/config.js";
