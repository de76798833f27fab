import { PdpError } from "../errors.js";
import { SourceText, splitPolicies } from "../policy/policy-source.js";
import type { RedisClient } from "../redis/connection.js";
import { DEFAULT_KEY_PREFIX } from "../redis/keys.js";
import type { DecisionRecord } from "./decision-record.js";

/** One file of a policy version. */
export interface ArchivedPolicyFile {
  /** Relative to the policy directory, e.g. `policies/tool-allowlist.cedar`. */
  readonly path: string;
  readonly text: string;
}

/**
 * The policy texts of recent versions, keyed by version hash, so that a decision can be explained
 * with the policies as they were when it was made. `put` is called on every policy load.
 */
export interface PolicyArchive {
  /** Keeps the files of `version` (idempotent). */
  put(version: string, files: readonly ArchivedPolicyFile[]): Promise<void>;
  /** The files of `version`, or undefined when not (or no longer) kept. */
  get(version: string): Promise<readonly ArchivedPolicyFile[] | undefined>;
}

/** Options for {@link MemoryPolicyArchive}. */
export interface MemoryPolicyArchiveOptions {
  /** Versions kept; the least recently put goes first. Default 50. */
  readonly maxVersions?: number;
}

/** A policy archive in this process. */
export class MemoryPolicyArchive implements PolicyArchive {
  readonly #versions = new Map<string, readonly ArchivedPolicyFile[]>();
  readonly #max: number;

  constructor(options: MemoryPolicyArchiveOptions = {}) {
    this.#max = options.maxVersions ?? 50;
  }

  async put(version: string, files: readonly ArchivedPolicyFile[]): Promise<void> {
    this.#versions.delete(version);
    this.#versions.set(version, files.map((f) => ({ path: f.path, text: f.text })));
    while (this.#versions.size > this.#max) this.#versions.delete(this.#versions.keys().next().value!);
  }

  async get(version: string): Promise<readonly ArchivedPolicyFile[] | undefined> {
    return this.#versions.get(version);
  }
}

/** Options for {@link RedisPolicyArchive}. */
export interface RedisPolicyArchiveOptions {
  /** A connected client (shared; not closed by the archive); the archive only GETs and SETs. */
  readonly client: Pick<RedisClient, "get" | "set">;
  /** Key prefix. Default `mcp-pdp:`. Keys: `<p>policy-archive:<version>` (JSON), expiring after `retentionMs`. */
  readonly keyPrefix?: string;
  /** How long a version's texts are kept after its last `put`; match the audit retention. Default 7 days. */
  readonly retentionMs?: number;
}

/** A policy archive shared by every replica, in Redis. */
export class RedisPolicyArchive implements PolicyArchive {
  readonly #client: Pick<RedisClient, "get" | "set">;
  readonly #prefix: string;
  readonly #retentionMs: number;

  constructor(options: RedisPolicyArchiveOptions) {
    this.#client = options.client;
    this.#prefix = options.keyPrefix ?? DEFAULT_KEY_PREFIX;
    this.#retentionMs = options.retentionMs ?? 7 * 86_400_000;
  }

  #key(version: string): string {
    if (!/^[A-Za-z0-9_-]{1,128}$/.test(version)) throw new PdpError("INVALID_REQUEST", "policy version must be 1–128 of A-Z a-z 0-9 _ -");
    return `${this.#prefix}policy-archive:${version}`;
  }

  async put(version: string, files: readonly ArchivedPolicyFile[]): Promise<void> {
    const body = JSON.stringify(files.map((f) => ({ path: f.path, text: f.text })));
    try {
      await this.#client.set(this.#key(version), body, "PX", this.#retentionMs);
    } catch (err) {
      throw PdpError.from(err, "AUDIT_UNAVAILABLE");
    }
  }

  async get(version: string): Promise<readonly ArchivedPolicyFile[] | undefined> {
    let body: string | null;
    try {
      body = await this.#client.get(this.#key(version));
    } catch (err) {
      throw PdpError.from(err, "AUDIT_UNAVAILABLE");
    }
    return body === null ? undefined : (JSON.parse(body) as ArchivedPolicyFile[]);
  }
}

/** A determining policy's text under the record's version. */
export interface ExplainedPolicy {
  readonly policyId: string;
  /** Empty when the policy was not found in the archived files. */
  readonly file: string;
  readonly line: number;
  readonly text: string;
}

/** A record with its determining policies' texts. */
export interface Explanation {
  readonly record: DecisionRecord;
  /** False when the archive does not hold the record's policy version. */
  readonly versionArchived: boolean;
  readonly policies: readonly ExplainedPolicy[];
}

/** Finds each determining policy of `record` (by `@id`) in the archived files of its version. */
export async function explainRecord(record: DecisionRecord, archive: PolicyArchive): Promise<Explanation> {
  const files = await archive.get(record.policyVersion);
  const ids = [...new Set((record.reasons ?? []).map((r) => r.policyId))];
  if (!files) return { record, versionArchived: false, policies: ids.map((policyId) => ({ policyId, file: "", line: 0, text: "" })) };
  const found = new Map<string, ExplainedPolicy>();
  for (const f of files) {
    if (!f.path.endsWith(".cedar")) continue;
    const source = new SourceText(f.text);
    for (const span of splitPolicies(source)) {
      if (span.id === undefined || !ids.includes(span.id) || found.has(span.id)) continue;
      found.set(span.id, { policyId: span.id, file: f.path, line: span.line, text: source.bytes.subarray(span.start, span.end).toString("utf8") });
    }
  }
  return { record, versionArchived: true, policies: ids.map((policyId) => found.get(policyId) ?? { policyId, file: "", line: 0, text: "" }) };
}
