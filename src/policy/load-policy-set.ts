/**
 * Loads a policy directory (`schema.cedarschema`, `policies/*.cedar`, `entities/*.json`), checks
 * it completely, and returns it ready for an engine. Anything wrong is a `POLICY_INVALID` error
 * whose message names the file, the line, the policy `@id`, and Cedar's message and help.
 */
import "./v8-guard.js";
import {
  checkParseEntities,
  checkParsePolicySet,
  checkParseSchema,
  policySetTextToParts,
  policyToJson,
  schemaToJsonWithResolvedTypes,
  validate,
} from "@cedar-policy/cedar-wasm/nodejs";
import type { DetailedError, EntityJson, PolicyJson } from "@cedar-policy/cedar-wasm/nodejs";
import { createHash } from "node:crypto";
import path from "node:path";
import { PdpError } from "../errors.js";
import { loadDeclaredDefinitions } from "./declared-definitions.js";
import { entityTypesRead } from "./entity-needs.js";
import { DEFINITION_DIR, ENTITY_DIR, isSetFile, MANIFEST_FILE, POLICY_DIR, readPolicySnapshot, SCHEMA_FILE, verifyManifest } from "./policy-snapshot.js";
import type { PolicySnapshot } from "./policy-snapshot.js";
import { jsonErrorIndex, SourceText, spanAt, splitPolicies } from "./policy-source.js";
import type { PolicySpan } from "./policy-source.js";
import { schemaActions, type PolicyScopes, type ScopedPolicy } from "./policy-partition.js";
import type { KnownTool } from "./tool-definitions.js";
import type { PolicyObligation } from "./types.js";

/** One policy of the loaded set, keyed by Cedar's own id (`policy0…N`). */
export interface PolicyInfo {
  /** Cedar's id for the policy in the combined text (`policy0`, `policy1`, …). */
  readonly cedarId: string;
  /** The `@id` annotation (unique across the set). */
  readonly id: string;
  /** The `@reason` annotation: a sentence a human can act on. */
  readonly reason: string;
  /** A forbid's `@obligation("approval" | "step_up")`: what can lift it (a human approval, a wider token scope). */
  readonly obligation?: PolicyObligation;
  readonly effect: "permit" | "forbid";
  /** File path relative to the policy directory, e.g. `policies/tool-allowlist.cedar`. */
  readonly file: string;
  /** 1-based line of the policy's first annotation. */
  readonly line: number;
}

/** A policy directory that parsed and validated. Immutable; one per version. */
export interface LoadedPolicySet {
  /** The directory it was loaded from (as given). */
  readonly dir: string;
  /**
   * Short version: the first 16 hex characters of {@link LoadedPolicySet.digest}. Decisions and
   * audit records carry this.
   */
  readonly version: string;
  /**
   * Full hex SHA-256 over every loaded file, in order of relative path (posix separators); for
   * each file: `<relative path>\n<byte length>\n<content bytes>`.
   */
  readonly digest: string;
  /** The schema text (Cedar syntax): the schema file and the generated `ToolArgs` type. */
  readonly schema: string;
  /**
   * Tools with a declared definition (`definitions/*.json`), by Tool entity id (`<server>#<name>`):
   * their arguments are checked and typed (`context.args.<name>`). Absent on hand-built sets.
   */
  readonly tools?: ReadonlyMap<string, KnownTool>;
  /** All policy files joined in order, as given to Cedar (ids `policy0…N` in this order). */
  readonly policyText: string;
  /** Cedar's policy id → annotations and source location. */
  readonly policies: ReadonlyMap<string, PolicyInfo>;
  /**
   * Entity types that some policy may dereference besides principal and resource (e.g. `User`
   * when a policy reads `context.user`); the entity builder sends only these.
   */
  readonly readsEntityTypes: ReadonlySet<string>;
  /** Static entities from `entities/*.json`, in file order. */
  readonly entities: readonly EntityJson[];
  /** Relative paths of every file that went into the version. */
  readonly files: readonly string[];
  /** Every file's text, by relative path (what `audit explain` shows for this version). */
  readonly sources: readonly { readonly path: string; readonly text: string }[];
  /** Validation warnings (strict mode), formatted like errors; they do not refuse the set. */
  readonly warnings: readonly string[];
  readonly loadedAt: Date;
  /**
   * Each policy's own text and scope, and the schema's actions: what the engine needs to split the
   * set into partitions that each hold only the policies that can apply to a request (see
   * policy-partition.ts). Absent on hand-built sets: the engine then evaluates the whole set.
   */
  readonly scopes?: PolicyScopes;
  /**
   * True when a manifest (`SHA256SUMS`) in the directory listed every file of this version and
   * each matched its digest: the version was announced as a whole. Absent or false: no manifest.
   */
  readonly manifest?: boolean;
}

/** Options for {@link loadPolicySet} and {@link loadPolicySnapshot}. */
export interface LoadPolicyOptions {
  /** Refuse a directory without a `SHA256SUMS` manifest. Default false. */
  readonly requireManifest?: boolean;
}

const OBLIGATIONS: readonly string[] = ["approval", "step_up"];

interface PolicyFile {
  readonly rel: string;
  readonly source: SourceText;
  readonly spans: PolicySpan[];
  /** Byte offset of this file in the combined policy text. */
  offset: number;
}

/**
 * Loads and checks a policy directory: reads it once ({@link readPolicySnapshot}), then
 * {@link loadPolicySnapshot}. Synchronous (start-up and reload only).
 *
 * @throws PdpError `POLICY_INVALID` naming file:line [policy @id] and Cedar's message and help.
 */
export function loadPolicySet(dir: string, options: LoadPolicyOptions = {}): LoadedPolicySet {
  return loadPolicySnapshot(readPolicySnapshot(dir), options);
}

/**
 * Checks a policy directory's files as read once: the manifest first when there is one (or one is
 * required), then schema, policies and entities. Nothing is read from disk here.
 *
 * @throws PdpError `POLICY_INVALID` naming file:line [policy @id] and Cedar's message and help.
 */
export function loadPolicySnapshot(snapshot: PolicySnapshot, options: LoadPolicyOptions = {}): LoadedPolicySet {
  const { dir } = snapshot;
  const display = displayDir(dir);
  const where = (rel: string, line?: number): string => `${display}/${rel}${line === undefined ? "" : `:${line}`}`;
  const hashed: { rel: string; bytes: Buffer }[] = [];
  const readText = (rel: string): string => {
    const bytes = snapshot.files.get(rel);
    if (!bytes) throw new PdpError("POLICY_INVALID", `${where(rel)}: ${snapshot.problems.get(rel) ?? "cannot read (ENOENT)"}`);
    return bytes.toString("utf8");
  };
  const listFiles = (sub: string): string[] => {
    const problem = snapshot.problems.get(sub);
    if (problem) throw new PdpError("POLICY_INVALID", `${where(sub)}: ${problem}`);
    return [...snapshot.files.keys()].filter((rel) => rel.startsWith(`${sub}/`) && isSetFile(rel));
  };

  // The manifest, before anything is parsed: a set that does not match it is not a version.
  const manifestProblems = verifyManifest(snapshot, options.requireManifest ?? false, where);
  if (manifestProblems.length > 0) throw invalid(manifestProblems);
  const manifest = snapshot.files.has(MANIFEST_FILE);

  // Tool definitions (optional): their typed arguments become the schema's `ToolArgs`.
  const definitionFiles = listFiles(DEFINITION_DIR).map((rel) => {
    const text = readText(rel);
    hashed.push({ rel, bytes: Buffer.from(text) });
    return { rel, text };
  });
  const declared = loadDeclaredDefinitions(definitionFiles, where);

  // Schema.
  const schemaFileText = readText(SCHEMA_FILE);
  const schemaSource = new SourceText(schemaFileText);
  hashed.push({ rel: SCHEMA_FILE, bytes: schemaSource.bytes });
  const schemaText = schemaFileText + declared.schemaText;
  const schemaCheck = checkParseSchema(schemaText);
  if (schemaCheck.type === "failure") {
    throw invalid(flatten(schemaCheck.errors).map((e) => `${where(SCHEMA_FILE, lineOf(schemaSource, e))} ${describe(e)}`));
  }

  const resolved = schemaToJsonWithResolvedTypes(schemaText);
  if (resolved.type === "failure") {
    throw invalid(flatten(resolved.errors).map((e) => `${where(SCHEMA_FILE, lineOf(schemaSource, e))} ${describe(e)}`));
  }

  // Policies: parse each file on its own, so that errors point into the right file.
  const files: PolicyFile[] = [];
  const problems: string[] = [];
  for (const rel of listFiles(POLICY_DIR)) {
    const source = new SourceText(readText(rel));
    hashed.push({ rel, bytes: source.bytes });
    const file: PolicyFile = { rel, source, spans: splitPolicies(source), offset: 0 };
    files.push(file);
    const parsed = checkParsePolicySet({ staticPolicies: source.text });
    if (parsed.type === "failure") {
      for (const e of flatten(parsed.errors)) {
        const at = firstOffset(e);
        const span = at === undefined ? undefined : spanAt(file.spans, at);
        problems.push(`${where(rel, at === undefined ? span?.line : source.lineAt(at))} [${span?.id ?? "no @id"}] ${describe(e)}`);
      }
    }
  }
  if (files.length === 0) throw invalid([`${where(POLICY_DIR)}: no *.cedar files`]);
  if (problems.length > 0) throw invalid(problems);

  // Annotations: every policy has @id and @reason; @id is unique across files.
  const policies = new Map<string, PolicyInfo>();
  const byId = new Map<string, PolicyInfo>();
  const asts: PolicyJson[] = [];
  const scoped: ScopedPolicy[] = [];
  const chunks: string[] = [];
  let offset = 0;
  for (const file of files) {
    file.offset = offset;
    chunks.push(file.source.text);
    offset += file.source.bytes.length + 1; // joined with "\n"
    const parts = policySetTextToParts(file.source.text);
    if (parts.type === "failure") {
      throw invalid(flatten(parts.errors).map((e) => `${where(file.rel, lineOf(file.source, e))} ${describe(e)}`));
    }
    if (parts.policies.length !== file.spans.length) {
      throw invalid([`${where(file.rel)} found ${file.spans.length} policies but Cedar found ${parts.policies.length}`]);
    }
    inTextOrder(parts.policies).forEach((text, i) => {
      const span = file.spans[i] as PolicySpan;
      const json = policyToJson(text);
      if (json.type === "failure") {
        problems.push(...flatten(json.errors).map((e) => `${where(file.rel, span.line)} [${span.id ?? "no @id"}] ${describe(e)}`));
        return;
      }
      asts.push(json.json);
      scoped.push({ cedarId: `policy${scoped.length}`, text, action: json.json.action, resource: json.json.resource });
      const id = json.json.annotations?.["id"];
      const reason = json.json.annotations?.["reason"];
      const at = where(file.rel, span.line);
      if (!id) return void problems.push(`${at} [no @id] every policy needs an @id("…") annotation`);
      if (!reason) problems.push(`${at} [${id}] every policy needs a @reason("…") annotation`);
      if (span.id !== undefined && span.id !== id) problems.push(`${at} [${id}] policy order mismatch: the text here says @id("${span.id}")`);
      const obligation = json.json.annotations?.["obligation"];
      if (obligation !== undefined && (!OBLIGATIONS.includes(obligation) || json.json.effect !== "forbid"))
        problems.push(`${at} [${id}] @obligation must be "approval" or "step_up", on a forbid policy`);
      const info: PolicyInfo = {
        cedarId: `policy${policies.size}`,
        id,
        reason: reason ?? "",
        ...(obligation !== undefined && { obligation: obligation as PolicyObligation }),
        effect: json.json.effect,
        file: file.rel,
        line: span.line,
      };
      const first = byId.get(id);
      if (first) problems.push(`${at} [${id}] duplicate @id (first at ${where(first.file, first.line)})`);
      else byId.set(id, info);
      policies.set(info.cedarId, info);
    });
  }
  if (problems.length > 0) throw invalid(problems);
  const policyText = chunks.join("\n");

  // Strict validation of the whole set against the schema.
  const locate = (byteOffset: number): { file: PolicyFile; line: number } => {
    let file = files[0] as PolicyFile;
    for (const f of files) if (f.offset <= byteOffset) file = f;
    return { file, line: file.source.lineAt(byteOffset - file.offset) };
  };
  const describeFor = (policyId: string, e: DetailedError): string => {
    const info = policies.get(policyId);
    const at = firstOffset(e);
    const loc = at === undefined ? undefined : locate(at);
    const file = loc ? loc.file.rel : info?.file ?? POLICY_DIR;
    const line = loc ? loc.line : info?.line;
    return `${where(file, line)} [${info?.id ?? policyId}] ${describe(e, policyId, info?.id)}`;
  };
  const validation = validate({ schema: schemaText, policies: { staticPolicies: policyText }, validationSettings: { mode: "strict" } });
  if (validation.type === "failure") {
    throw invalid(flatten(validation.errors).map((e) => `${where(SCHEMA_FILE)} ${describe(e)}`));
  }
  if (validation.validationErrors.length > 0) {
    throw invalid(validation.validationErrors.map((v) => describeFor(v.policyId, v.error)));
  }
  const warnings = [...declared.warnings, ...validation.validationWarnings.map((v) => describeFor(v.policyId, v.error))];

  // Static entities: each file against the schema, then all together (duplicates across files).
  const entities: EntityJson[] = [];
  const entitySources: { rel: string; source: SourceText }[] = [];
  for (const rel of listFiles(ENTITY_DIR)) {
    const source = new SourceText(readText(rel));
    hashed.push({ rel, bytes: source.bytes });
    entitySources.push({ rel, source });
    const list = parseEntityFile(source, (line, msg) => `${where(rel, line)} ${msg}`);
    const checked = checkParseEntities({ entities: list, schema: schemaText });
    if (checked.type === "failure") {
      throw invalid(flatten(checked.errors).map((e) => `${where(rel, entityLine(source, e.message))} ${describe(e)}`));
    }
    const idProblems = checkEntityIds(list);
    if (idProblems.length > 0) {
      throw invalid(idProblems.map((p) => `${where(rel, entityLine(source, p))} ${p}`));
    }
    entities.push(...list);
  }
  const all = checkParseEntities({ entities, schema: schemaText });
  if (all.type === "failure") {
    throw invalid(
      flatten(all.errors).map((e) => {
        const hit = entitySources.find((s) => entityLine(s.source, e.message) !== undefined);
        return `${hit ? where(hit.rel, entityLine(hit.source, e.message)) : where(ENTITY_DIR)} ${describe(e)}`;
      }),
    );
  }

  hashed.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
  const digest = digestOf(hashed);
  return {
    dir,
    version: digest.slice(0, 16),
    digest,
    schema: schemaText,
    tools: declared.tools,
    policyText,
    policies,
    readsEntityTypes: entityTypesRead(resolved.json, asts),
    entities,
    files: hashed.map((f) => f.rel),
    sources: hashed.map((f) => ({ path: f.rel, text: f.bytes.toString("utf8") })),
    warnings,
    loadedAt: new Date(),
    scopes: { policies: scoped, actions: schemaActions(resolved.json) },
    manifest,
  };
}

/**
 * `policySetTextToParts` returns a file's policies ordered by Cedar's ids as strings (`policy0`,
 * `policy1`, `policy10`, `policy11`, …, `policy2`), not in text order: with 11 or more policies in
 * one file the two differ. Puts them back in text order (the order of `policy0…N`, and of the spans).
 */
function inTextOrder(parts: readonly string[]): string[] {
  const ids = parts.map((_, i) => `policy${i}`).sort();
  const out = new Array<string>(parts.length);
  ids.forEach((id, j) => (out[Number(id.slice("policy".length))] = parts[j] as string));
  return out;
}

/**
 * The digest a policy directory's files would have as a version, without checking them — to name
 * a refused version. Best effort: files that cannot be read are left out; undefined when none
 * can. Equals {@link LoadedPolicySet.digest} for a directory that loads.
 */
export function digestPolicyDir(dir: string): string | undefined {
  return digestSnapshot(readPolicySnapshot(dir));
}

/** {@link digestPolicyDir} of files already read. */
export function digestSnapshot(snapshot: PolicySnapshot): string | undefined {
  const files = [...snapshot.files].filter(([rel]) => isSetFile(rel)).map(([rel, bytes]) => ({ rel, bytes }));
  if (files.length === 0) return undefined;
  files.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
  return digestOf(files);
}

function digestOf(files: readonly { rel: string; bytes: Buffer }[]): string {
  const hash = createHash("sha256");
  for (const f of files) {
    hash.update(`${f.rel}\n${f.bytes.length}\n`);
    hash.update(f.bytes);
  }
  return hash.digest("hex");
}

function invalid(lines: readonly string[]): PdpError {
  return new PdpError("POLICY_INVALID", lines.join("\n"));
}

function displayDir(dir: string): string {
  const rel = path.relative(process.cwd(), path.resolve(dir));
  return rel === "" ? "." : rel.startsWith("..") || path.isAbsolute(rel) ? path.resolve(dir) : rel.split(path.sep).join("/");
}

/** The error and its related errors, each with its own location. */
function flatten(errors: readonly DetailedError[]): DetailedError[] {
  const out: DetailedError[] = [];
  const walk = (e: DetailedError): void => {
    out.push(e);
    for (const r of e.related ?? []) walk(r);
  };
  errors.forEach(walk);
  // Cedar repeats a parse error as its own `related` entry at another location; keep distinct ones.
  const seen = new Set<string>();
  return out.filter((e) => {
    const key = `${firstOffset(e)}|${e.message}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

function firstOffset(e: DetailedError): number | undefined {
  return e.sourceLocations?.[0]?.start;
}

function lineOf(source: SourceText, e: DetailedError): number | undefined {
  const at = firstOffset(e);
  return at === undefined ? undefined : source.lineAt(at);
}

/** Cedar's message (with `policyN` replaced by the @id), label and help. */
function describe(e: DetailedError, cedarId?: string, id?: string): string {
  let msg = e.message;
  if (cedarId && id) msg = msg.split(`\`${cedarId}\``).join(`\`${id}\``);
  const label = e.sourceLocations?.[0]?.label;
  if (label) msg += ` (${label})`;
  if (e.help) msg += ` — help: ${e.help}`;
  return msg;
}

function parseEntityFile(source: SourceText, at: (line: number | undefined, msg: string) => string): EntityJson[] {
  let value: unknown;
  try {
    value = JSON.parse(source.text);
  } catch (err) {
    const index = jsonErrorIndex(source.text);
    const line = index === undefined ? undefined : source.lineAt(Buffer.byteLength(source.text.slice(0, index)));
    throw new PdpError("POLICY_INVALID", at(line, `invalid JSON: ${(err as Error).message}`), { cause: err });
  }
  if (!Array.isArray(value)) throw new PdpError("POLICY_INVALID", at(1, "expected a JSON array of entities (Cedar JSON entity format)"));
  return value as EntityJson[];
}

/** Line of the entity a Cedar message names (`Type::"id"`), found by its id string in the file. */
function entityLine(source: SourceText, message: string): number | undefined {
  const m = /([A-Za-z_][A-Za-z0-9_:]*)::("(?:[^"\\]|\\.)*")/.exec(message);
  if (!m) return undefined;
  const idLiteral = m[2] ?? "";
  const re = new RegExp(`"id"\\s*:\\s*${idLiteral.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}`);
  const hit = re.exec(source.text);
  return hit ? source.lineAt(Buffer.byteLength(source.text.slice(0, hit.index))) : undefined;
}

function uidOf(v: unknown): { type: string; id: string } | undefined {
  if (typeof v !== "object" || v === null) return undefined;
  const o = ("__entity" in v ? (v as { __entity: unknown }).__entity : v) as { type?: unknown; id?: unknown };
  return typeof o.type === "string" && typeof o.id === "string" ? { type: o.type, id: o.id } : undefined;
}

/** Typed ids must agree with the attributes they are built from (see entity-builder.ts). */
function checkEntityIds(list: readonly EntityJson[]): string[] {
  const problems: string[] = [];
  for (const e of list) {
    const uid = uidOf(e.uid);
    if (!uid) continue;
    const a = e.attrs as Record<string, unknown>;
    const label = `${uid.type}::${JSON.stringify(uid.id)}`;
    if (uid.type === "Tool" || uid.type === "Prompt") {
      const expected = `${uidOf(a["server"])?.id}#${String(a["name"])}`;
      if (uid.id !== expected) problems.push(`${label}: id must be "<server>#<name>", i.e. ${JSON.stringify(expected)}`);
    } else if (uid.type === "User") {
      const expected = `${String(a["issuer"])}#${String(a["subject"])}`;
      if (uid.id !== expected) problems.push(`${label}: id must be "<issuer>#<subject>", i.e. ${JSON.stringify(expected)}`);
    }
  }
  return problems;
}
