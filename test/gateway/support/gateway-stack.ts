/**
 * The gateway in front of real MCP servers: a PDP in-process (test/support/pdp.ts) with policies
 * for the gateway's resource, the gateway itself on 127.0.0.1:0, and official SDK clients that
 * send only a bearer token minted by the development issuer.
 */
import { writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";
import { Writable } from "node:stream";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import { pino, type Logger } from "pino";
import { loadGatewayConfig } from "../../../src/gateway/config.js";
import { startGateway, type Gateway } from "../../../src/gateway/gateway.js";
import { DEV_ISSUER, mintDevToken } from "../../../src/identity/dev-issuer.js";
import { copyCedar, editJson, startTestPdp, type TestPdp } from "../../support/pdp.js";

/** The gateway's canonical URI in these tests (the user tokens' audience). */
export const RESOURCE = "https://everything.example/mcp";

/** `server-everything`'s entry point, run with `node … stdio`. */
export const EVERYTHING = path.join(path.dirname(createRequire(import.meta.url).resolve("@modelcontextprotocol/server-everything/package.json")), "dist", "index.js");

/**
 * A copy of the bundled cedar/ where research agents may open sessions on {@link RESOURCE} for
 * research and call `echo`, `get-sum` and `trigger-long-running-operation` there (tool set research-tools); `get-env` is a known tool
 * no policy permits.
 */
export function gatewayCedar(): string {
  return copyCedar((dir) => {
    editJson(path.join(dir, "entities", "servers.json"), (entities: unknown[]) => {
      entities.push({
        uid: { type: "Server", id: RESOURCE },
        attrs: { vendor: "example", broker: false, trusted_idps: [{ __entity: { type: "IdentityProvider", id: DEV_ISSUER } }], max_session_ttl_seconds: 900 },
        parents: [],
      });
    });
    editJson(path.join(dir, "entities", "tools.json"), (entities: unknown[]) => {
      const tool = (name: string, parents: { type: string; id: string }[], more: Record<string, unknown> = {}) => ({
        uid: { type: "Tool", id: `${RESOURCE}#${name}` },
        attrs: { name, server: { __entity: { type: "Server", id: RESOURCE } }, risk: 1, labels: [], impact: "read", ...more },
        parents,
      });
      const research = [{ type: "ToolSet", id: "research-tools" }];
      entities.push(tool("echo", research), tool("get-sum", research), tool("trigger-long-running-operation", research), tool("get-env", []));
      // Step-up: permitted, but only with the scope images.read in the user's token.
      entities.push(tool("get-tiny-image", research, { required_scopes: ["images.read"] }));
    });
    writeFileSync(
      path.join(dir, "policies", "gateway-everything.cedar"),
      `@id("session-research-agents-everything")
@reason("research agents may open sessions on the everything server for research")
permit (
  principal in AgentGroup::"research-agents",
  action == Action::"open_session",
  resource == Server::"${RESOURCE}"
)
when { context.purpose == "research" };
`,
    );
  });
}

/** A logger that keeps what it wrote (to check that no token is logged). */
export function captureLogger(): { logger: Logger; text: () => string } {
  let text = "";
  const sink = new Writable({
    write(chunk, _enc, cb) {
      text += String(chunk);
      cb();
    },
  });
  return { logger: pino({ level: "debug" }, sink), text: () => text };
}

/** A PDP and a gateway in front of `upstream`. */
export interface GatewayStack {
  readonly pdp: TestPdp;
  readonly gateway: Gateway;
  readonly log: () => string;
  /** An SDK client that sends only `Authorization: Bearer <user token>` (closed by `close()`). */
  connect(token?: string): Promise<Client>;
  /** A development user token for {@link RESOURCE}. */
  userToken(options?: { audience?: string; subject?: string; scopes?: string[]; act?: string }): Promise<string>;
  close(): Promise<void>;
}

/** Starts the PDP (on `cedarDir`, default {@link gatewayCedar}) and the gateway; `upstream` is the gateway's upstream config. */
export async function startGatewayStack(upstream: Record<string, unknown>, extra: Record<string, unknown> = {}, cedarDir = gatewayCedar()): Promise<GatewayStack> {
  const pdp = await startTestPdp({ cedarDir });
  const clients: Client[] = [];
  const { logger, text } = captureLogger();
  let gateway: Gateway | undefined;
  try {
    const config = loadGatewayConfig({
      env: {},
      overrides: {
        port: 0,
        resource: RESOURCE,
        pdp: { address: pdp.address },
        ...("upstreams" in extra ? {} : { upstream: { restartInitialDelayMs: 50, restartMaxDelayMs: 1000, ...upstream } }),
        ...extra,
      },
    });
    gateway = await startGateway(config, { logger });
  } catch (err) {
    await pdp.close();
    throw err;
  }
  const running = gateway;
  const userToken = (o: { audience?: string; subject?: string; scopes?: string[]; act?: string } = {}) =>
    mintDevToken("user", {
      audience: o.audience ?? RESOURCE,
      clientId: "dev-client",
      ...(o.subject && { subject: o.subject }),
      ...(o.scopes && { scopes: o.scopes }),
      ...(o.act && { act: { sub: o.act } }),
    });
  return {
    pdp,
    gateway: running,
    log: text,
    userToken,
    async connect(token) {
      const bearer = token ?? (await userToken());
      const client = new Client({ name: "stock-client", version: "1.0.0" });
      clients.push(client);
      await client.connect(new StreamableHTTPClientTransport(new URL(running.url), { requestInit: { headers: { authorization: `Bearer ${bearer}` } } }));
      return client;
    },
    async close() {
      for (const c of clients) await c.close().catch(() => {});
      await running.close();
      await pdp.close();
    },
  };
}

/**
 * The bundled cedar/ (with its agent-attestation policy) plus a files server at `resource` that
 * trusts `issuer`: research agents may open research sessions there; `read_text_file` and
 * `write_file` are in the research tool set, `write_file` labelled `egress` (high-impact).
 */
export function filesCedar(resource: string, issuer: string): string {
  return copyCedar((dir) => {
    editJson(path.join(dir, "entities", "servers.json"), (entities: unknown[]) => {
      entities.push({
        uid: { type: "Server", id: resource },
        attrs: { vendor: "example", broker: false, trusted_idps: [{ __entity: { type: "IdentityProvider", id: issuer } }], max_session_ttl_seconds: 900 },
        parents: [],
      });
    });
    editJson(path.join(dir, "entities", "tools.json"), (entities: unknown[]) => {
      const research = [{ type: "ToolSet", id: "research-tools" }];
      const tool = (name: string, labels: string[], impact: string) => ({
        uid: { type: "Tool", id: `${resource}#${name}` },
        attrs: { name, server: { __entity: { type: "Server", id: resource } }, risk: 1, labels, impact },
        parents: research,
      });
      entities.push(tool("read_text_file", [], "read"), tool("write_file", ["egress"], "write"));
    });
    writeFileSync(
      path.join(dir, "policies", "gateway-files.cedar"),
      `@id("session-research-agents-files")
@reason("research agents may open sessions on the files server for research")
permit (principal in AgentGroup::"research-agents", action == Action::"open_session", resource == Server::"${resource}")
when { context.purpose == "research" };
`,
    );
  });
}
