/** The policy settings. Top-level keys of the config. */
import path from "node:path";
import { fileURLToPath } from "node:url";
import { z } from "zod";

/** The Cedar directory shipped with the package (`cedar/` beside `src/` and `dist/`). */
export const BUNDLED_CEDAR_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "cedar");

/** The policy keys, at the top level of the config. */
export const policyConfigShape = {
  cedarDir: z
    .string()
    .min(1)
    .optional()
    .transform((dir) => dir ?? BUNDLED_CEDAR_DIR)
    .meta({ env: "MCP_PDP_CEDAR_DIR", relativePath: true, description: "The Cedar directory (schema, policies, entities, tests)." }),
};
