/**
 * The layering rules CI enforces (`npm run -s check:layers`). Folders are the project's rooms
 * (shared/STYLE.md): the decision core speaks its own types — the wire (generated code, grpc-js,
 * the gRPC door) stays at the edge; the policy engine knows nothing of the stores; no module
 * imports itself. Folder-level cycles are found by scripts/check-layers.mjs from this graph.
 */
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: "core-without-wire",
      comment: "src/decision is transport-neutral: the doors translate; it never imports generated protobuf, grpc or the gRPC door.",
      severity: "error",
      from: { path: "^src/decision/" },
      to: { path: ["^src/gen/", "^src/grpc/", "^src/server/", "^node_modules/@grpc/", "^node_modules/@bufbuild/"] },
    },
    {
      name: "policy-without-stores",
      comment: "src/policy evaluates Cedar; it never reads session state.",
      severity: "error",
      from: { path: "^src/policy/" },
      to: { path: "^src/session/" },
    },
    {
      name: "redis-plumbing-only",
      comment: "src/redis is the Redis plumbing the stores and the audit share (connection, deadline, scripts, keys); it knows none of its consumers.",
      severity: "error",
      from: { path: "^src/redis/" },
      to: { path: "^src/(?!redis/|errors\\.ts$)" },
    },
    {
      name: "no-module-cycles",
      comment: "No module imports itself through others.",
      severity: "error",
      from: { path: "^src/" },
      to: { circular: true },
    },
  ],
  options: {
    doNotFollow: { path: ["node_modules", "^src/gen/"] },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: "tsconfig.json" },
    enhancedResolveOptions: { exportsFields: ["exports"], conditionNames: ["import", "require", "node", "default", "types"], extensions: [".ts", ".js"] },
  },
};
