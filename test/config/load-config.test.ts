/** Loading the configuration: file, environment and overrides merged, strict keys, errors that say where. */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { availableParallelism } from "node:os";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, describe, test } from "node:test";
import { loadConfig, packageRoot } from "../../src/config/load-config.js";
import { PdpError } from "../../src/errors.js";
import { DEV_ISSUER } from "../../src/identity/dev-issuer.js";

const dir = mkdtempSync(path.join(tmpdir(), "mcp-pdp-config-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** Writes `value` (JSON, or text as is) as `pdp.json` in a fresh directory; returns its absolute path. */
function writeConfig(value: unknown): string {
  const sub = mkdtempSync(path.join(dir, "c-"));
  const file = path.join(sub, "pdp.json");
  writeFileSync(file, typeof value === "string" ? value : JSON.stringify(value));
  return file;
}

/** The CONFIG_INVALID message of loading with `options`. */
function problem(options: Parameters<typeof loadConfig>[0]): string {
  try {
    loadConfig(options);
  } catch (err) {
    assert.ok(err instanceof PdpError, String(err));
    assert.equal(err.code, "CONFIG_INVALID");
    return err.message;
  }
  assert.fail("the configuration was accepted");
}

describe("unknown keys and variables are errors", () => {
  test("an unknown key in the file names the key and the file, with a suggestion", () => {
    const file = writeConfig({ prot: 1, logLevl: "debug" });
    const message = problem({ file, env: {} });
    assert.match(message, new RegExp(`config: unknown key "prot" in ${file.replace(/[.\\/]/g, "\\$&")} \\(did you mean "port"\\?\\)`));
    assert.match(message, /config: unknown key "logLevl" in .*pdp\.json \(did you mean "logLevel"\?\)/);
  });

  test("an unknown key deep in the file is named by its whole path", () => {
    const file = writeConfig({ identity: { userIssuers: [{ issuer: "https://idp.example", jwksUrl: "https://idp.example/jwks" }] }, store: { redis: { url: "redis://x", prefix: "p:" } } });
    const message = problem({ file, env: {} });
    assert.match(message, /unknown key "identity\.userIssuers\[0\]\.jwksUrl" in .*pdp\.json \(did you mean "identity\.userIssuers\[0\]\.jwksUri"\?\)/);
    assert.match(message, /unknown key "store\.redis\.prefix" in .*pdp\.json/);
  });

  test("an unknown key in the overrides names them as the source", () => {
    assert.match(problem({ env: {}, overrides: { sessions: { requierd: false } }, overridesSource: "--set" }), /unknown key "sessions\.requierd" from --set \(did you mean "sessions\.required"\?\)/);
  });

  test("an unknown MCP_PDP_ variable is an error naming it; the known ones that are not keys pass", () => {
    assert.match(problem({ env: { MCP_PDP_LOGLEVEL: "debug" } }), /config: unknown environment variable MCP_PDP_LOGLEVEL \(did you mean MCP_PDP_LOG_LEVEL\?\)/);
    assert.match(problem({ env: { MCP_PDP_TOTALLY_NEW: "" } }), /unknown environment variable MCP_PDP_TOTALLY_NEW$/);
    const config = loadConfig({ env: { MCP_PDP_WORKER: "1", MCP_PDP_ADDRESS: "127.0.0.1:1", MCP_PDP_HEALTH_SERVICE: "x", OTHER_PORT: "x" } });
    assert.equal(config.port, 50051);
  });
});

describe("bad values name the key, what it expects and where the value came from", () => {
  test("from the environment", () => {
    const message = problem({ env: { MCP_PDP_PORT: "fifty", MCP_PDP_SESSIONS_REQUIRED: "yes", MCP_PDP_WORKERS: "many" } });
    assert.match(message, /config: port: expected an integer from 0 to 65535, got "fifty" \(from MCP_PDP_PORT\)/);
    assert.match(message, /config: sessions\.required: expected true or false, got "yes" \(from MCP_PDP_SESSIONS_REQUIRED\)/);
    assert.match(message, /config: workers: expected "auto" or an integer from 1 to 64, got "many" \(from MCP_PDP_WORKERS\)/);
  });

  test("an invalid log level is a config error naming the setting", () => {
    assert.match(problem({ env: { MCP_PDP_LOG_LEVEL: "verbose" } }), /config: logLevel: expected one of "fatal", "error", "warn", "info", "debug", "trace", "silent", got "verbose" \(from MCP_PDP_LOG_LEVEL\)/);
  });

  test("from the file, including a missing key inside an object", () => {
    const file = writeConfig({ identity: { clockSkewSeconds: 99 }, tls: { certFile: "pdp.crt" }, audit: { sinks: ["pino", "kafka"] } });
    const message = problem({ file, env: {} });
    assert.match(message, /config: identity\.clockSkewSeconds: expected an integer from 0 to 60, got 99 \(in .*pdp\.json\)/);
    assert.match(message, /config: tls\.keyFile: missing, expected a non-empty string \(in .*pdp\.json\)/);
    assert.match(message, /config: audit\.sinks\[1\]: expected one of "pino", "memory", "redis", got "kafka" \(in .*pdp\.json\)/);
  });

  test("a later source is blamed for the value it set", () => {
    const file = writeConfig({ port: 7000 });
    assert.match(problem({ file, env: {}, overrides: { port: -1 } }), /port: expected an integer from 0 to 65535, got -1 \(from overrides\)$/);
  });

  test("a file that is not a JSON object", () => {
    assert.match(problem({ file: writeConfig("[1]"), env: {} }), /config: .*pdp\.json must hold a JSON object/);
    assert.match(problem({ file: writeConfig("{"), env: {} }), /config: cannot read .*pdp\.json/);
  });
});

describe("merging and defaults", () => {
  test("embedded defaults", () => {
    const config = loadConfig({ env: {} });
    assert.equal(config.mode, "development");
    assert.equal(config.host, "127.0.0.1");
    assert.equal(config.port, 50051);
    assert.equal(config.cedarDir, path.join(packageRoot, "cedar"));
    assert.deepEqual(config.audit.sinks, ["pino", "memory"]);
    assert.equal(config.sessions.defaultTtlSeconds, 900);
    assert.equal(config.store.backend, "memory");
    assert.equal(config.identity.userIssuers[0]?.issuer, DEV_ISSUER, "development mode trusts the dev issuer when none is configured");
  });

  test("environment text: numbers, booleans, comma lists, auto; an empty variable is unset", () => {
    const config = loadConfig({
      env: {
        MCP_PDP_PORT: "6001",
        MCP_PDP_ALLOW_PLAINTEXT: "1",
        MCP_PDP_SESSIONS_REQUIRED: "false",
        MCP_PDP_OPERATORS: "ops-a, ops-b,,",
        MCP_PDP_STORE: "redis",
        MCP_PDP_REDIS_URL: "redis://127.0.0.1:1",
        MCP_PDP_WORKERS: "auto",
        MCP_PDP_HOST: "",
      },
    });
    assert.equal(config.port, 6001);
    assert.equal(config.allowPlaintext, true);
    assert.equal(config.sessions.required, false);
    assert.deepEqual(config.operators, ["ops-a", "ops-b"]);
    assert.equal(config.workers, availableParallelism());
    assert.equal(config.host, "127.0.0.1");
    assert.deepEqual(config.audit.sinks, ["pino", "redis"], "with the Redis store the durable sink is redis");
  });

  test("file, then environment, then overrides; objects merge key by key", () => {
    const file = writeConfig({ port: 7000, host: "127.0.0.2", sessions: { maxTtlSeconds: 300, approvalTtlSeconds: 60 } });
    const config = loadConfig({ file, env: { MCP_PDP_PORT: "7001", MCP_PDP_SESSIONS_REQUIRED: "false" }, overrides: { host: "127.0.0.3", sessions: { approvalTtlSeconds: 30 } } });
    assert.equal(config.port, 7001);
    assert.equal(config.host, "127.0.0.3");
    assert.deepEqual(config.sessions, { required: false, maxTtlSeconds: 300, defaultTtlSeconds: 300, maxRequestedItems: 100, approvalTtlSeconds: 30 });
  });

  test("MCP_PDP_CONFIG names the file", () => {
    const file = writeConfig({ port: 7002 });
    assert.equal(loadConfig({ env: { MCP_PDP_CONFIG: file } }).port, 7002);
  });

  test("relative file names are resolved against the config file's directory", () => {
    const file = writeConfig({
      cedarDir: "policies",
      tls: { certFile: "pdp.crt", keyFile: "/abs/pdp.key" },
      identity: { callerIssuers: [{ issuer: "https://idp.example", jwksFile: "keys/jwks.json" }] },
    });
    const base = path.dirname(file);
    const config = loadConfig({ file, env: { MCP_PDP_CEDAR_DIR: "from-env" } });
    assert.equal(config.cedarDir, path.join(base, "from-env"));
    assert.equal(config.tls?.certFile, path.join(base, "pdp.crt"));
    assert.equal(config.tls?.keyFile, "/abs/pdp.key");
    assert.equal(config.identity.callerIssuers[0]?.jwksFile, path.join(base, "keys/jwks.json"));
  });

  test("audit sinks follow the store and the decision log; the redis sink needs the Redis store", () => {
    assert.deepEqual(loadConfig({ env: { MCP_PDP_DECISION_LOG: "off" } }).audit.sinks, ["memory"]);
    assert.match(problem({ env: {}, overrides: { audit: { sinks: ["redis"] } } }), /audit\.sinks: the redis sink needs store\.backend "redis"/);
    assert.match(problem({ env: {}, overrides: { audit: { sinks: ["pino"], required: true } } }), /audit\.required needs a memory or redis sink/);
  });

  test("a session's default lifetime follows a lower maximum, and may not exceed it", () => {
    assert.equal(loadConfig({ env: {}, overrides: { sessions: { maxTtlSeconds: 120 } } }).sessions.defaultTtlSeconds, 120);
    assert.match(problem({ env: {}, overrides: { sessions: { maxTtlSeconds: 120, defaultTtlSeconds: 600 } } }), /sessions\.defaultTtlSeconds: must not exceed sessions\.maxTtlSeconds/);
  });

  test("issuers: one key source, never alg none, HS256 only with a shared secret, workloads name trust domains", () => {
    const issuer = { issuer: "https://idp.example" };
    assert.match(problem({ env: {}, overrides: { identity: { userIssuers: [issuer] } } }), /identity\.userIssuers\[0\]: needs exactly one of jwksUri, jwksFile, jwks, sharedSecret \(from overrides\)/);
    const config = loadConfig({ env: {}, overrides: { identity: { userIssuers: [{ ...issuer, sharedSecret: "c2VjcmV0" }], workloadIssuers: [{ ...issuer, jwksUri: "https://idp.example/jwks", trustDomains: ["example.org"] }] } } });
    assert.deepEqual(config.identity.userIssuers[0]?.algorithms, ["HS256"]);
    assert.deepEqual(config.identity.workloadIssuers[0]?.algorithms, ["RS256", "ES256", "PS256", "EdDSA"]);
    assert.match(problem({ env: {}, overrides: { identity: { workloadIssuers: [{ ...issuer, jwksUri: "https://idp.example/jwks" }] } } }), /identity\.workloadIssuers\[0\]\.trustDomains: missing, expected a list of strings/);
  });

  test("a Redis store needs exactly one target and a key prefix without braces", () => {
    assert.match(problem({ env: { MCP_PDP_STORE: "redis" } }), /store\.redis: needs exactly one of url, sentinel, cluster/);
    assert.match(problem({ env: { MCP_PDP_REDIS_URL: "redis://x", MCP_PDP_REDIS_PREFIX: "{p}" } }), /store\.redis\.keyPrefix: must not contain braces .* \(from MCP_PDP_REDIS_PREFIX\)/);
    const sentinel = { sentinels: [{ host: "127.0.0.1", port: 26379 }], name: "mymaster" };
    assert.deepEqual(loadConfig({ env: {}, overrides: { store: { redis: { sentinel } } } }).store, { backend: "redis", redis: { sentinel, keyPrefix: "mcp-pdp:", deadlineMs: 250, confirmReplicas: 0 } });
  });
});

test("`mcp-pdp serve` with an unknown key or variable exits 2 naming it", async () => {
  const file = writeConfig({ prot: 1 });
  const serve = (env: Record<string, string>) =>
    new Promise<{ code: number | null; stderr: string }>((resolve, reject) => {
      const child = spawn(process.execPath, [path.join(packageRoot, "bin/mcp-pdp.js"), "serve", "--config", file], {
        cwd: dir,
        env: { PATH: process.env.PATH ?? "", ...env },
        stdio: ["ignore", "ignore", "pipe"],
      });
      let stderr = "";
      child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
      const timer = setTimeout(() => {
        child.kill("SIGKILL");
        reject(new Error(`mcp-pdp serve still running after 30 s (it should refuse the config):\n${stderr}`));
      }, 30_000);
      child.on("exit", (code) => {
        clearTimeout(timer);
        resolve({ code, stderr });
      });
    });
  const hint = "(bin/mcp-pdp.js runs dist/: `npm run build` after changing src/)";
  const fromFile = await serve({});
  assert.equal(fromFile.code, 2, hint);
  assert.match(fromFile.stderr, new RegExp(`^mcp-pdp: config: unknown key "prot" in ${file.replace(/[.\\/]/g, "\\$&")} \\(did you mean "port"\\?\\)`), hint);
  const fromEnv = await serve({ MCP_PDP_PROT: "1" });
  assert.equal(fromEnv.code, 2, hint);
  assert.match(fromEnv.stderr, /config: unknown environment variable MCP_PDP_PROT \(did you mean MCP_PDP_PORT\?\)/, hint);
});
