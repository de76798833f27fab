/** The policy settings. Top-level keys of the config. */
import path from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";

/** The Cedar directory shipped with the package (`cedar/` beside `src/` and `dist/`). */
export const BUNDLED_CEDAR_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "cedar");

/** What to do with a new version that drops policies or files of the one in force, unannounced by a manifest. */
export const REMOVAL_POLICIES = ["refuse", "allow"] as const;

/** How a policy directory becomes a version: settling, the manifest, removals. The `policies` key. */
export const policiesConfigSchema = z
  .strictObject({
    quietMs: z
      .int()
      .min(0)
      .max(600_000)
      .default(1000)
      .meta({ description: "After a change, the files must stay unchanged this long (and read the same twice) before a version is built." }),
    settleTimeoutMs: z
      .int()
      .min(1)
      .max(3_600_000)
      .default(30_000)
      .meta({ description: "Changes that go on longer than this are refused (the version in force stays); the next quiet period loads them." }),
    requireManifest: z.boolean().default(false).meta({
      env: "MCP_PDP_POLICIES_REQUIRE_MANIFEST",
      description: "Refuse a policy directory without a SHA256SUMS manifest (at start and on reload).",
    }),
    shadowDir: z.string().min(1).optional().meta({
      env: "MCP_PDP_POLICIES_SHADOW_DIR",
      relativePath: true,
      description:
        "A candidate policy directory evaluated beside the live set on every policy decision (never changing an answer; disagreements recorded and counted). On while it holds a policy set, off while it is empty: a reload, not a restart.",
    }),
    unannouncedRemovals: z.enum(REMOVAL_POLICIES).optional().meta({
      description: 'A new version that drops policies (by @id) or files, without a manifest announcing it: "refuse" or "allow" (logged loudly either way). Default: refuse in production, allow in development.',
    }),
  })
  .refine((p) => p.settleTimeoutMs >= p.quietMs, { path: ["settleTimeoutMs"], message: "must not be below policies.quietMs" });

/** The `policies` settings with the removal default worked out from the mode. */
export function settlePolicies(policies: z.output<typeof policiesConfigSchema>, mode: "development" | "production") {
  return { ...policies, unannouncedRemovals: policies.unannouncedRemovals ?? (mode === "production" ? "refuse" : "allow") } as const;
}

/** The `policies` settings, as loaded. */
export type PoliciesConfig = ReturnType<typeof settlePolicies>;

/** The policy keys, at the top level of the config. */
export const policyConfigShape = {
  cedarDir: z
    .string()
    .min(1)
    .optional()
    .transform((dir) => dir ?? BUNDLED_CEDAR_DIR)
    .meta({ env: "MCP_PDP_CEDAR_DIR", relativePath: true, description: "The Cedar directory (schema, policies, entities, tests)." }),
  policies: policiesConfigSchema.prefault({}),
};
