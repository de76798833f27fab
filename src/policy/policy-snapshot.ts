/**
 * The files of a policy directory read once, as bytes: what one version is built from, so that
 * the version never mixes files read at different moments.
 *
 * - **One resolution per read.** The directory is resolved to its real path once (so `current ->
 *   releases/N` is read from one release even if the link is swapped mid-read), and when it holds
 *   a `..data` symbolic link (a Kubernetes ConfigMap or Secret volume) everything is read through
 *   the one target that link named at the start.
 * - **The manifest.** `SHA256SUMS` in the directory, in the format `sha256sum` writes
 *   (`<64 hex>  <path>`, or `<64 hex> *<path>`; blank lines and `#` comments ignored), lists every
 *   file of the set with its digest. When it is present, a set loads only when every listed file is
 *   there and matches, and no policy, entity or schema file is left unlisted (see
 *   {@link verifyManifest}).
 */
import { createHash } from "node:crypto";
import { lstatSync, readdirSync, readFileSync, realpathSync, statSync } from "node:fs";
import path from "node:path";

/** The schema file, relative to the policy directory. */
export const SCHEMA_FILE = "schema.cedarschema";
/** The policy files' directory and extension. */
export const POLICY_DIR = "policies";
/** The entity files' directory and extension. */
export const ENTITY_DIR = "entities";
/** The declared tool definitions' directory (optional) and extension. */
export const DEFINITION_DIR = "definitions";
/** The manifest file, relative to the policy directory. */
export const MANIFEST_FILE = "SHA256SUMS";
/** The link a Kubernetes ConfigMap/Secret volume swaps atomically. */
export const KUBERNETES_DATA_LINK = "..data";

/** The files of a policy directory, read once. */
export interface PolicySnapshot {
  /** The directory as configured. */
  readonly dir: string;
  /** The real directory the files were read from (after following `dir` and a `..data` link). */
  readonly root: string;
  /**
   * Relative path (posix) → bytes: the schema, `policies/*.cedar`, `entities/*.json`, the manifest
   * when present, and any other file the manifest lists.
   */
  readonly files: ReadonlyMap<string, Buffer>;
  /** Relative path → why it could not be read or listed (`cannot read (ENOENT)`, `cannot list (EACCES)`). */
  readonly problems: ReadonlyMap<string, string>;
}

/** Resolves the directory a version is read from: its real path, and through `..data` when that is a link. */
export function resolvePolicyRoot(dir: string): string {
  let root: string;
  try {
    root = realpathSync(dir);
  } catch {
    return path.resolve(dir);
  }
  try {
    const data = path.join(root, KUBERNETES_DATA_LINK);
    if (lstatSync(data).isSymbolicLink()) root = realpathSync(data);
  } catch {
    // no ..data link: the directory itself
  }
  return root;
}

/** Reads every file of the policy directory once (no parsing). Never throws: problems are kept. */
export function readPolicySnapshot(dir: string): PolicySnapshot {
  const root = resolvePolicyRoot(dir);
  const files = new Map<string, Buffer>();
  const problems = new Map<string, string>();
  const read = (rel: string, optional = false): void => {
    try {
      files.set(rel, readFileSync(path.join(root, ...rel.split("/"))));
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? String(err);
      if (!(optional && code === "ENOENT")) problems.set(rel, `cannot read (${code})`);
    }
  };
  read(SCHEMA_FILE);
  for (const [sub, ext] of [
    [POLICY_DIR, ".cedar"],
    [ENTITY_DIR, ".json"],
    [DEFINITION_DIR, ".json"],
  ] as const) {
    const names = listDir(root, sub, ext);
    if (typeof names === "string") {
      if (!((sub === ENTITY_DIR || sub === DEFINITION_DIR) && names === "ENOENT")) problems.set(sub, `cannot list (${names})`);
      continue;
    }
    for (const name of names) read(`${sub}/${name}`);
  }
  read(MANIFEST_FILE, true);
  const manifest = files.get(MANIFEST_FILE);
  if (manifest) {
    // Files the manifest lists besides the set (e.g. tests/*.json) are read now, with the rest.
    const parsed = parseManifest(manifest.toString("utf8"));
    for (const entry of parsed.entries) if (!files.has(entry.path) && safeRelative(entry.path)) read(entry.path);
  }
  return { dir, root, files, problems };
}

/** True when two snapshots read the same files with the same bytes from the same root. */
export function sameSnapshot(a: PolicySnapshot, b: PolicySnapshot): boolean {
  if (a.root !== b.root || a.files.size !== b.files.size || a.problems.size !== b.problems.size) return false;
  for (const [rel, bytes] of a.files) {
    const other = b.files.get(rel);
    if (!other || !other.equals(bytes)) return false;
  }
  for (const [rel, problem] of a.problems) if (b.problems.get(rel) !== problem) return false;
  return true;
}

/** Is `rel` one of the files a version is built from (schema, policies, entities, definitions)? */
export function isSetFile(rel: string): boolean {
  return (
    rel === SCHEMA_FILE ||
    (rel.startsWith(`${POLICY_DIR}/`) && rel.endsWith(".cedar") && !rel.slice(POLICY_DIR.length + 1).includes("/")) ||
    (rel.startsWith(`${ENTITY_DIR}/`) && rel.endsWith(".json") && !rel.slice(ENTITY_DIR.length + 1).includes("/")) ||
    (rel.startsWith(`${DEFINITION_DIR}/`) && rel.endsWith(".json") && !rel.slice(DEFINITION_DIR.length + 1).includes("/"))
  );
}

/** One line of a manifest. */
export interface ManifestEntry {
  readonly digest: string;
  readonly path: string;
  readonly line: number;
}

/** A parsed manifest: its entries and the lines it could not read. */
export interface ParsedManifest {
  readonly entries: readonly ManifestEntry[];
  readonly problems: readonly string[];
}

const MANIFEST_LINE = /^([0-9a-fA-F]{64}) [ *](.+)$/;

/** Parses `sha256sum` output. Escaped names (a leading `\`) and `--tag` lines are reported, not guessed at. */
export function parseManifest(text: string): ParsedManifest {
  const entries: ManifestEntry[] = [];
  const problems: string[] = [];
  const seen = new Set<string>();
  const lines = text.split("\n");
  if (lines.at(-1) === "") lines.pop();
  lines.forEach((raw, i) => {
    const line = raw.endsWith("\r") ? raw.slice(0, -1) : raw;
    const n = i + 1;
    if (line.trim() === "" || line.startsWith("#")) return;
    const m = MANIFEST_LINE.exec(line);
    if (!m) return void problems.push(`${n}: not a "<sha256>  <path>" line, as sha256sum writes (without --tag)`);
    const rel = (m[2] as string).replace(/^(\.\/)+/, "");
    if (!safeRelative(rel)) return void problems.push(`${n}: the path "${rel}" must be relative, inside the policy directory`);
    if (seen.has(rel)) return void problems.push(`${n}: "${rel}" is listed twice`);
    seen.add(rel);
    entries.push({ digest: (m[1] as string).toLowerCase(), path: rel, line: n });
  });
  if (!text.endsWith("\n") && text.length > 0) problems.push(`${lines.length}: the last line has no newline (a manifest cut short?)`);
  return { entries, problems };
}

function safeRelative(rel: string): boolean {
  return rel !== "" && !rel.startsWith("/") && !rel.includes("\\") && rel.split("/").every((p) => p !== "" && p !== "." && p !== "..");
}

/**
 * Checks a snapshot against its manifest: every listed file present and matching its digest, every
 * file of the set listed. Returns the problems, one line each, naming the files (empty: it holds).
 * Without a manifest: none, unless `required`.
 */
export function verifyManifest(snapshot: PolicySnapshot, required: boolean, where: (rel: string, line?: number) => string): string[] {
  const manifest = snapshot.files.get(MANIFEST_FILE);
  if (!manifest) {
    return required ? [`${where(MANIFEST_FILE)}: missing, and policies.requireManifest is set (write it with \`sha256sum schema.cedarschema policies/*.cedar entities/*.json > SHA256SUMS\`)`] : [];
  }
  const parsed = parseManifest(manifest.toString("utf8"));
  const problems = parsed.problems.map((p) => `${where(MANIFEST_FILE)}:${p}`);
  if (parsed.entries.length === 0 && problems.length === 0) problems.push(`${where(MANIFEST_FILE)}: lists no files`);
  const listed = new Set<string>();
  for (const e of parsed.entries) {
    listed.add(e.path);
    const bytes = snapshot.files.get(e.path);
    if (!bytes) {
      problems.push(`${where(e.path)}: listed in ${MANIFEST_FILE} (line ${e.line}) but ${snapshot.problems.get(e.path) ?? "missing"}`);
      continue;
    }
    const actual = createHash("sha256").update(bytes).digest("hex");
    if (actual !== e.digest)
      problems.push(`${where(e.path)}: does not match its digest in ${MANIFEST_FILE} (line ${e.line}) — a partial write, or a change without a new manifest`);
  }
  for (const rel of snapshot.files.keys())
    if (isSetFile(rel) && !listed.has(rel)) problems.push(`${where(rel)}: not listed in ${MANIFEST_FILE} (every file of the set must be)`);
  return problems;
}

function listDir(root: string, sub: string, ext: string): string[] | string {
  try {
    return readdirSync(path.join(root, sub), { withFileTypes: true })
      .filter((e) => e.name.endsWith(ext) && (e.isFile() || (e.isSymbolicLink() && isFile(path.join(root, sub, e.name)))))
      .map((e) => e.name)
      .sort();
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? String(err);
  }
}

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}
