import { createInterface } from "node:readline";
import type { Readable } from "node:stream";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport, getDefaultEnvironment } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { Transport } from "@modelcontextprotocol/sdk/shared/transport.js";
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ErrorCode,
  McpError,
  type Implementation,
  type Notification,
  type ServerCapabilities,
} from "@modelcontextprotocol/sdk/types.js";
import type { Logger } from "pino";
import type { TaskGrants } from "../pep/task-sessions.js";
import type { UpstreamConfig } from "./config.js";

/** What the upstream said about itself when it was last initialized. */
export interface UpstreamInfo {
  readonly capabilities: ServerCapabilities;
  readonly serverInfo: Implementation;
  readonly instructions?: string;
}

/** The one connection to the upstream MCP server, kept up. */
export interface Upstream {
  /** The connected client; waits up to `connectTimeoutMs` for a (re)connection, else rejects. */
  ready(): Promise<{ readonly client: Client; readonly info: UpstreamInfo }>;
  /**
   * What a task session is opened for: every tool, resource and prompt the upstream lists (read
   * after each connection and on its list-changed notifications). Live object: read at each open.
   */
  readonly grants: TaskGrants;
  /** The stdio child's pid (undefined for HTTP, or while it is down). */
  pid(): number | undefined;
  /**
   * Calls `listener` with every notification the upstream sends on this shared connection (not
   * progress: that goes to the request it belongs to). Returns the unsubscribe function.
   */
  onNotification(listener: (n: Notification) => void): () => void;
  /**
   * `resources/subscribe` on the shared connection, counted: the upstream is asked on the first
   * subscriber of a URI, `unsubscribe` asks it on the last; subscriptions are renewed after a reconnection.
   */
  subscribe(uri: string): Promise<void>;
  unsubscribe(uri: string): Promise<void>;
  /** How many times the upstream has been (re)connected. */
  connections(): number;
  /**
   * Drops the current connection and reconnects (with the usual backoff): for an HTTP upstream
   * that no longer knows the gateway's session (HTTP 404), e.g. after it restarted.
   */
  reconnect(why: string): void;
  close(): Promise<void>;
}

class NotReady extends Error {}

/** The answer to a server→client request on the shared connection: no one client made it. */
function refuse(method: string): never {
  throw new McpError(
    ErrorCode.InvalidRequest,
    `${method} is refused by the mcp-pdp gateway: this connection is shared by several clients, and a request on it cannot be relayed to the one it is meant for (a client that declares the capability gets a connection of its own)`,
  );
}

/** Pages through a list method (tools/list, resources/list, prompts/list). Bounded to 100 pages. */
async function listAll<T>(page: (cursor?: string) => Promise<{ items: T[]; nextCursor?: string | undefined }>): Promise<T[]> {
  const out: T[] = [];
  let cursor: string | undefined;
  for (let i = 0; i < 100; i++) {
    const r = await page(cursor);
    out.push(...r.items);
    if (!r.nextCursor) break;
    cursor = r.nextCursor;
  }
  return out;
}

/** A new transport to the upstream: a spawned stdio child (its stderr logged at debug) or a Streamable HTTP connection. */
export function upstreamTransport(config: UpstreamConfig, logger: Logger): Transport {
  if (config.command) {
    const t = new StdioClientTransport({
      command: config.command,
      args: config.args,
      env: { ...getDefaultEnvironment(), ...config.env },
      ...(config.cwd && { cwd: config.cwd }),
      stderr: "pipe",
    });
    const stderr = t.stderr as Readable | null;
    if (stderr) createInterface({ input: stderr }).on("line", (line) => logger.debug({ upstream: "stderr" }, line.slice(0, 2000)));
    return t;
  }
  return new StreamableHTTPClientTransport(new URL(config.url!), { requestInit: { headers: config.headers } });
}

/**
 * Connects to the upstream (a stdio child or a Streamable HTTP URL) and keeps it connected: when the
 * child exits or the connection fails, it reconnects after a delay that doubles from
 * `restartInitialDelayMs` to `restartMaxDelayMs` (reset after a successful connection). The
 * client's credentials never reach this connection: only `config.headers` are sent upstream.
 */
export function createUpstream(config: UpstreamConfig, logger: Logger, clientInfo: Implementation): Upstream {
  let current: { client: Client; info: UpstreamInfo } | undefined;
  let transport: Transport | undefined;
  let closed = false;
  let delay = config.restartInitialDelayMs;
  let timer: NodeJS.Timeout | undefined;
  let count = 0;
  let waiters: { resolve: (v: { client: Client; info: UpstreamInfo }) => void }[] = [];
  const grants = { tools: [] as string[], resources: [] as string[], prompts: [] as string[] };

  const newTransport = (): Transport => upstreamTransport(config, logger);
  const listeners = new Set<(n: Notification) => void>();
  const subscribed = new Map<string, number>();

  const limits = { timeout: config.connectTimeoutMs };
  const refreshGrants = async (client: Client, caps: ServerCapabilities): Promise<void> => {
    if (caps.tools) grants.tools = (await listAll(async (cursor) => { const r = await client.listTools(cursor ? { cursor } : {}, limits); return { items: r.tools, nextCursor: r.nextCursor }; })).map((t) => t.name);
    if (caps.resources) grants.resources = (await listAll(async (cursor) => { const r = await client.listResources(cursor ? { cursor } : {}, limits); return { items: r.resources, nextCursor: r.nextCursor }; })).map((r) => r.uri);
    if (caps.prompts) grants.prompts = (await listAll(async (cursor) => { const r = await client.listPrompts(cursor ? { cursor } : {}, limits); return { items: r.prompts, nextCursor: r.nextCursor }; })).map((p) => p.name);
  };
  const schedule = (why: string): void => {
    if (closed || timer) return;
    logger.warn({ upstream: config.command ?? config.url, retryInMs: delay, why }, "upstream down; reconnecting");
    timer = setTimeout(() => {
      timer = undefined;
      void connect();
    }, delay);
    timer.unref();
    delay = Math.min(delay * 2, config.restartMaxDelayMs);
  };

  const connect = async (): Promise<void> => {
    if (closed) return;
    // Sampling and elicitation are declared so that the upstream lists everything it offers (a
    // task session is granted from this list; server-everything lists its sampling tools only to a
    // client that can sample), but no request on this connection can be told to be one client's:
    // each is answered with an error. A client that declared them has a connection of its own
    // (session-upstream.ts), where they are relayed.
    const client = new Client(clientInfo, { capabilities: { sampling: {}, elicitation: { form: {}, url: {} } } });
    client.setRequestHandler(CreateMessageRequestSchema, () => refuse("sampling/createMessage"));
    client.setRequestHandler(ElicitRequestSchema, () => refuse("elicitation/create"));
    const t = newTransport();
    transport = t;
    let up = false;
    client.onclose = () => {
      if (transport === t) current = undefined;
      if (up) schedule("the upstream connection closed");
    };
    client.fallbackNotificationHandler = async (n) => {
      if (current?.client !== client) return;
      for (const listener of listeners) listener(n);
      if (n.method.endsWith("/list_changed")) {
        await refreshGrants(client, current.info.capabilities).catch((err: unknown) => logger.warn({ err }, "upstream list refresh failed"));
      }
    };
    try {
      await client.connect(t, { timeout: config.connectTimeoutMs });
      const info: UpstreamInfo = {
        capabilities: client.getServerCapabilities() ?? {},
        serverInfo: client.getServerVersion() ?? { name: "upstream", version: "0" },
        ...(client.getInstructions() && { instructions: client.getInstructions()! }),
      };
      await refreshGrants(client, info.capabilities);
      // A new connection (a restarted child) knows no subscriptions: renew the counted ones.
      for (const uri of subscribed.keys()) await client.subscribeResource({ uri }, limits).catch((err: unknown) => logger.warn({ err, uri }, "renewing a resource subscription failed"));
      if (closed) return void (await client.close());
      up = true;
      count++;
      delay = config.restartInitialDelayMs;
      current = { client, info };
      logger.info({ upstream: info.serverInfo, pid: (t as StdioClientTransport).pid ?? undefined, tools: grants.tools.length }, "upstream connected");
      const ready = waiters;
      waiters = [];
      for (const w of ready) w.resolve(current);
    } catch (err) {
      await client.close().catch(() => {});
      schedule(`connect failed: ${(err as Error).message}`);
    }
  };

  void connect();

  return {
    grants,
    async ready() {
      if (current) return current;
      if (closed) throw new NotReady("the gateway is closing");
      return new Promise((resolve, reject) => {
        const waiter = { resolve: (v: { client: Client; info: UpstreamInfo }) => (clearTimeout(t), resolve(v)) };
        const t = setTimeout(() => {
          waiters = waiters.filter((w) => w !== waiter);
          reject(new NotReady(`the upstream MCP server is not connected (waited ${config.connectTimeoutMs} ms)`));
        }, config.connectTimeoutMs);
        waiters.push(waiter);
      });
    },
    onNotification(listener) {
      listeners.add(listener);
      return () => void listeners.delete(listener);
    },
    async subscribe(uri) {
      const n = subscribed.get(uri) ?? 0;
      subscribed.set(uri, n + 1);
      if (n > 0) return;
      try {
        await (await this.ready()).client.subscribeResource({ uri }, limits);
      } catch (err) {
        if (subscribed.get(uri) === 1) subscribed.delete(uri);
        else subscribed.set(uri, (subscribed.get(uri) ?? 1) - 1);
        throw err;
      }
    },
    async unsubscribe(uri) {
      const n = subscribed.get(uri) ?? 0;
      if (n === 0) return;
      if (n > 1) return void subscribed.set(uri, n - 1);
      subscribed.delete(uri);
      await current?.client.unsubscribeResource({ uri }, limits);
    },
    pid: () => (current && transport instanceof StdioClientTransport ? (transport.pid ?? undefined) : undefined),
    connections: () => count,
    reconnect(why) {
      const c = current;
      if (!c || closed) return;
      logger.warn({ upstream: config.url ?? config.command, why }, "upstream session lost; reconnecting");
      current = undefined;
      void c.client.close().catch(() => {});
    },
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      const c = current;
      current = undefined;
      await c?.client.close().catch(() => {});
      await transport?.close().catch(() => {});
    },
  };
}
