import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import {
  CreateMessageRequestSchema,
  ElicitRequestSchema,
  ListRootsRequestSchema,
  type ClientCapabilities,
  type Implementation,
  type Notification,
  type Request,
} from "@modelcontextprotocol/sdk/types.js";
import type { Logger } from "pino";
import type { UpstreamConfig } from "./config.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";
import type { DirectTarget } from "./direct-call.js";
import { upstreamTransport, type Upstream, type UpstreamInfo } from "./upstream.js";

/** The upstream side of one client session. */
export interface SessionUpstream {
  /** The connection to forward this session's requests to. */
  client(): Promise<Client>;
  /** What the upstream said about itself when this session's connection was made. */
  readonly info: UpstreamInfo;
  /** True when the session has its own connection (server→client requests are relayed). */
  readonly own: boolean;
  subscribe(uri: string): Promise<void>;
  unsubscribe(uri: string): Promise<void>;
  /**
   * Where this session's own upstream MCP session is reached over HTTP, for calls relayed without
   * the SDK (direct-call.ts); undefined for a shared connection, for a client that declared
   * sampling, elicitation or roots, or while the connection is not up.
   */
  directTarget(): Promise<DirectTarget | undefined>;
  /**
   * The upstream no longer knows this session's connection (HTTP 404, e.g. it restarted): the next
   * request opens a new one (and renews the subscriptions). Nothing for a shared connection.
   */
  renew(): void;
  /** Drops the session's subscriptions and its own connection, if any. */
  close(): Promise<void>;
}

/** Where the upstream's messages for this session go (the session's downstream server). */
export interface SessionUpstreamHooks {
  /** A notification for the client (resource updated, list changed, log message). */
  notify(n: Notification): void;
  /** A server→client request (sampling, elicitation, roots), answered by the client. */
  request(r: Request, signal: AbortSignal): Promise<Record<string, unknown>>;
  /** The session's own connection closed (the upstream went away): the session is over. */
  lost(): void;
}

/** The stdio children a route may start for client sessions of their own (`clientSessions.stdioProcesses`). */
export interface ProcessSlots {
  /** Takes a slot: false when all are taken. */
  take(): boolean;
  /** Gives a taken slot back. */
  give(): void;
}

/** At most `max` slots. */
export function processSlots(max: number): ProcessSlots {
  let taken = 0;
  return {
    take: () => (taken < max ? (taken++, true) : false),
    give: () => void (taken = Math.max(0, taken - 1)),
  };
}

/**
 * The client capabilities the gateway relays: what the client declared of sampling, elicitation
 * and — to an HTTP upstream only — roots. A stdio child's roots configure that process
 * (server-filesystem replaces the directories on its command line with them): the operator's
 * command line, not the client, sets its scope.
 */
function relayedClientCapabilities(declared: ClientCapabilities, roots: boolean): ClientCapabilities {
  return {
    ...(declared.sampling && { sampling: declared.sampling }),
    ...(declared.elicitation && { elicitation: declared.elicitation }),
    ...(roots && declared.roots && { roots: declared.roots }),
  };
}

/**
 * The upstream connection of a client session. A client session that declared sampling or
 * elicitation (or roots, to an HTTP upstream) gets a connection of its own, declaring those same
 * capabilities: for an HTTP upstream an upstream MCP session, for a stdio upstream a child process
 * of its own (at most `slots` of them). Every notification and server→client request on it is that client's, and is
 * relayed. Any other session shares the route's common connection (a stdio upstream's one child,
 * or an HTTP upstream's shared session — and a plain client of an HTTP upstream gets a session of
 * its own too, for the direct call path): it receives the notifications addressed to everyone
 * (list changes, log messages) and the `resources/updated` of the URIs it subscribed to
 * (subscriptions are counted across sessions). A server→client request on a shared connection
 * cannot be told apart — a stdio pipe carries nothing that names the client request it serves —
 * so the shared connection answers each with an MCP error (upstream.ts).
 */
export async function openSessionUpstream(
  config: UpstreamConfig,
  shared: Upstream,
  clientCapabilities: ClientCapabilities,
  hooks: SessionUpstreamHooks,
  logger: Logger,
  clientInfo: Implementation,
  slots: ProcessSlots,
): Promise<SessionUpstream> {
  const capabilities = relayedClientCapabilities(clientCapabilities, !config.command);
  const plain = Object.keys(capabilities).length === 0;
  if (config.command && plain) return sharedSession(shared, hooks);
  if (config.command && !slots.take()) {
    logger.warn({ upstream: config.command }, "clientSessions.stdioProcesses reached: this client session shares the common child (the child's sampling and elicitation requests are refused)");
    return sharedSession(shared, hooks);
  }
  let given = !config.command;
  const giveBack = (): void => {
    if (!given) slots.give();
    given = true;
  };
  try {
    return await ownSession(config, capabilities, hooks, logger, clientInfo, giveBack);
  } catch (err) {
    giveBack();
    throw err;
  }
}

/** A connection of the session's own (an upstream MCP session, or a stdio child); `ended` runs once it is closed or lost. */
async function ownSession(
  config: UpstreamConfig,
  capabilities: ClientCapabilities,
  hooks: SessionUpstreamHooks,
  logger: Logger,
  clientInfo: Implementation,
  ended: () => void,
): Promise<SessionUpstream> {
  const limits = { timeout: config.connectTimeoutMs };
  const subscribed = new Set<string>();
  const retired = new WeakSet<Client>();
  let closing = false;

  const connect = async (): Promise<Client> => {
    const client = new Client(clientInfo, { capabilities });
    if (capabilities.sampling) client.setRequestHandler(CreateMessageRequestSchema, (r, extra) => hooks.request(r, extra.signal) as never);
    if (capabilities.elicitation) client.setRequestHandler(ElicitRequestSchema, (r, extra) => hooks.request(r, extra.signal) as never);
    if (capabilities.roots) client.setRequestHandler(ListRootsRequestSchema, (r, extra) => hooks.request(r, extra.signal) as never);
    client.fallbackNotificationHandler = async (n) => hooks.notify(n);
    client.onclose = () => {
      if (closing || retired.has(client)) return;
      ended();
      hooks.lost();
    };
    try {
      await client.connect(upstreamTransport(config, logger), { timeout: config.connectTimeoutMs });
      for (const uri of subscribed) await client.subscribeResource({ uri }, limits);
      return client;
    } catch (err) {
      retired.add(client);
      await client.close().catch(() => {});
      throw err;
    }
  };
  // A failed (re)connection is tried again by the next request.
  let failed = false;
  const track = (p: Promise<Client>): Promise<Client> => {
    p.catch(() => {
      if (current === p) failed = true;
    });
    return p;
  };
  let current = track(connect());
  const first = await current;
  const info: UpstreamInfo = {
    capabilities: first.getServerCapabilities() ?? {},
    serverInfo: first.getServerVersion() ?? { name: "upstream", version: "0" },
    ...(first.getInstructions() && { instructions: first.getInstructions()! }),
  };
  const client = (): Promise<Client> => {
    if (failed) {
      failed = false;
      current = track(connect());
    }
    return current;
  };
  const plain = Object.keys(capabilities).length === 0;
  // The direct target of the upstream session in use, made once per upstream session (not per call).
  let target: (DirectTarget & { readonly sessionId: string }) | undefined;
  return {
    client,
    info,
    own: true,
    async directTarget() {
      if (!plain || failed) return undefined;
      const t = (await current.catch(() => undefined))?.transport;
      if (!(t instanceof StreamableHTTPClientTransport) || !t.sessionId) return undefined;
      if (target?.sessionId !== t.sessionId) {
        const headers = { ...config.headers, "mcp-session-id": t.sessionId, ...(t.protocolVersion && { "mcp-protocol-version": t.protocolVersion }) };
        target = { sessionId: t.sessionId, url: new URL(config.url!), headers };
      }
      return target;
    },
    async subscribe(uri) {
      await (await client()).subscribeResource({ uri }, limits);
      subscribed.add(uri);
    },
    async unsubscribe(uri) {
      subscribed.delete(uri);
      await (await client()).unsubscribeResource({ uri }, limits);
    },
    renew() {
      const old = current;
      failed = false;
      current = track(connect());
      void old.then((c) => (retired.add(c), c.close())).catch(() => {});
    },
    async close() {
      closing = true;
      const c = await current.catch(() => undefined);
      // End the upstream session (HTTP DELETE), so the upstream does not keep it for a client that left.
      if (c?.transport instanceof StreamableHTTPClientTransport) await c.transport.terminateSession().catch(() => {});
      await c?.close().catch(() => {});
      ended();
    },
  };
}

async function sharedSession(shared: Upstream, hooks: SessionUpstreamHooks): Promise<SessionUpstream> {
  const { info } = await shared.ready();
  const mine = new Set<string>();
  const off = shared.onNotification((n) => {
    if (n.method === "notifications/resources/updated" && !mine.has(String((n.params as { uri?: unknown } | undefined)?.uri))) return;
    hooks.notify(n);
  });
  return {
    client: async () => (await shared.ready()).client,
    info,
    own: false,
    async subscribe(uri) {
      if (mine.has(uri)) return;
      await shared.subscribe(uri);
      mine.add(uri);
    },
    async unsubscribe(uri) {
      if (!mine.delete(uri)) return;
      await shared.unsubscribe(uri);
    },
    directTarget: async () => undefined,
    renew() {},
    async close() {
      off();
      const uris = [...mine];
      mine.clear();
      for (const uri of uris) await shared.unsubscribe(uri).catch(() => {});
    },
  };
}
