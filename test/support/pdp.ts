/**
 * Starts a real PDP (the composition root, gRPC on 127.0.0.1:0) for a test, with decision
 * records captured in memory as well as the operational log captured as text.
 */
import { Writable } from "node:stream";
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pino } from "pino";
import { startApp, type App, type StartAppOptions } from "../../src/app.js";
import type { AuditSinkEntry } from "../../src/audit/audit-log.js";
import type { DecisionRecord } from "../../src/audit/decision-record.js";
import { loadConfig, packageRoot } from "../../src/config/load-config.js";
import type { PdpConfig } from "../../src/config/types.js";
import { createClient, type Client } from "../../src/grpc/client.js";
import { AuthorizationService } from "../../src/gen/mcppdp/v1/authorization_pb.js";
import { REDACTED_FIELDS } from "../../src/log.js";

/** A running PDP for one test. */
export interface TestPdp {
  readonly app: App;
  readonly address: string;
  /** Every decision record so far (waits until the audit has written them). */
  records(): Promise<DecisionRecord[]>;
  /** Everything the operational log wrote, as text. */
  logText(): string;
  /** An AuthorizationService client (closed by `close()`). */
  readonly authz: Client<(typeof AuthorizationService)["method"]>;
  close(): Promise<void>;
}

/** Starts a PDP with the embedded defaults plus `overrides` (port 0, quiet log). */
export async function startTestPdp(
  overrides: Partial<Record<keyof PdpConfig, unknown>> = {},
  extraAuditSinks: readonly AuditSinkEntry[] = [],
  appOptions: Omit<StartAppOptions, "extraAuditSinks"> = {},
): Promise<TestPdp> {
  const config = loadConfig({ env: {}, overrides: { port: 0, logLevel: "debug", decisionLog: "off", ...overrides } });
  const records: DecisionRecord[] = [];
  const capture = { name: "test-capture", write: async (batch: readonly DecisionRecord[]) => void records.push(...batch), close: async () => {} };
  let log = "";
  const sink = new Writable({
    write(chunk, _enc, cb) {
      log += String(chunk);
      cb();
    },
  });
  const logger = pino({ level: "debug", redact: { paths: [...REDACTED_FIELDS], censor: "[redacted]" } }, sink);
  const app = await startApp(config, logger, { ...appOptions, extraAuditSinks: [{ sink: capture, required: false }, ...extraAuditSinks] });
  const address = `127.0.0.1:${app.port}`;
  const authz = createClient(AuthorizationService, address);
  return {
    app,
    address,
    records: async () => {
      await app.audit.flush();
      return records;
    },
    logText: () => log,
    authz,
    async close() {
      authz.close();
      await app.stop();
    },
  };
}

/**
 * Copies the bundled `cedar/` to a temporary directory and lets the test change it (e.g. trust
 * another IdP); returns the new directory.
 */
export function copyCedar(edit?: (dir: string) => void): string {
  const dir = mkdtempSync(path.join(tmpdir(), "mcp-pdp-cedar-"));
  cpSync(path.join(packageRoot, "cedar"), dir, { recursive: true });
  edit?.(dir);
  return dir;
}

/** Edits a JSON file in place. */
export function editJson(file: string, edit: (value: any) => void): void {
  const value = JSON.parse(readFileSync(file, "utf8"));
  edit(value);
  writeFileSync(file, JSON.stringify(value, null, 2));
}

/** In a copied cedar dir: lets `server` trust the IdP `issuer`. */
export function trustIdp(dir: string, issuer: string, server = "https://docs.example.com/mcp"): void {
  editJson(path.join(dir, "entities", "servers.json"), (entities: any[]) => {
    entities.find((e) => e.uid.id === server).attrs.trusted_idps.push({ __entity: { type: "IdentityProvider", id: issuer } });
  });
}

/** In a copied cedar dir: adds an agent to an agent group. */
export function addAgent(dir: string, agentId: string, group = "research-agents"): void {
  editJson(path.join(dir, "entities", "identities.json"), (entities: any[]) => {
    entities.push({
      uid: { type: "Agent", id: agentId },
      attrs: { trust_domain: new URL(agentId).host },
      parents: [{ type: "AgentGroup", id: group }],
    });
  });
}
