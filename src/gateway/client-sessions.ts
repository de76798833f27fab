/** A per-client state the gateway keeps between requests. */
export interface ClientSessionState {
  /** Frees everything the session holds (its transports, its upstream connection). */
  close(): Promise<void>;
}

/** Bounds of {@link createClientSessions}. */
export interface ClientSessionsOptions {
  /** Most sessions kept at once; a client that would open one more is refused. */
  readonly max: number;
  /** A session with no request and no open stream for this long is closed. */
  readonly idleMs: number;
  /** Clock in ms. Default `Date.now`. */
  readonly now?: () => number;
  /** How often idle sessions are looked for. Default `idleMs / 4`, at least 1 s. 0: never (tests sweep by hand). */
  readonly sweepEveryMs?: number;
}

/** The gateway's per-client sessions (MCP `Mcp-Session-Id`), bounded in number and idle time. */
export interface ClientSessions<T extends ClientSessionState> {
  /**
   * Keeps `state` under `id` for `owner` (who may use it: the verified user and client). False
   * when `max` sessions are already kept (after closing the idle ones): the caller refuses.
   */
  add(id: string, owner: string, state: T): boolean;
  /** The session, when `id` is known and `owner` is its owner; marks it used. */
  get(id: string, owner: string): T | undefined;
  /** A stream (an SSE response) of the session opened: it is not idle until the stream closes. */
  streamOpened(id: string): void;
  streamClosed(id: string): void;
  /** Forgets the session and closes it. */
  remove(id: string): Promise<void>;
  /** Closes every session that is idle now; returns how many. */
  sweep(): Promise<number>;
  /** How many are kept. */
  size(): number;
  /** Closes every session and stops sweeping. */
  close(): Promise<void>;
}

interface Entry<T> {
  readonly owner: string;
  readonly state: T;
  lastUsed: number;
  streams: number;
}

/**
 * A bounded map of client sessions: at most `max` at once (a new one is refused, never an old one
 * evicted, so that one client cannot push out another's session), each closed after `idleMs`
 * without a request or an open stream. A session is only ever returned to its owner: a session id
 * presented with another user's token is unknown.
 */
export function createClientSessions<T extends ClientSessionState>(options: ClientSessionsOptions): ClientSessions<T> {
  const now = options.now ?? Date.now;
  const entries = new Map<string, Entry<T>>();
  const every = options.sweepEveryMs ?? Math.max(1000, Math.floor(options.idleMs / 4));
  const timer = every > 0 ? setInterval(() => void sweep(), every) : undefined;
  timer?.unref();

  const remove = async (id: string): Promise<void> => {
    const entry = entries.get(id);
    if (!entry) return;
    entries.delete(id);
    await entry.state.close().catch(() => {});
  };

  const sweep = async (): Promise<number> => {
    const t = now();
    const idle = [...entries].filter(([, e]) => e.streams === 0 && t - e.lastUsed >= options.idleMs).map(([id]) => id);
    await Promise.all(idle.map(remove));
    return idle.length;
  };

  return {
    add(id, owner, state) {
      if (entries.size >= options.max) {
        const t = now();
        for (const [key, e] of entries) if (e.streams === 0 && t - e.lastUsed >= options.idleMs) void remove(key);
        if (entries.size >= options.max) return false;
      }
      entries.set(id, { owner, state, lastUsed: now(), streams: 0 });
      return true;
    },
    get(id, owner) {
      const entry = entries.get(id);
      if (!entry || entry.owner !== owner) return undefined;
      entry.lastUsed = now();
      return entry.state;
    },
    streamOpened(id) {
      const entry = entries.get(id);
      if (entry) entry.streams++;
    },
    streamClosed(id) {
      const entry = entries.get(id);
      if (!entry) return;
      entry.streams = Math.max(0, entry.streams - 1);
      entry.lastUsed = now();
    },
    remove,
    sweep,
    size: () => entries.size,
    async close() {
      if (timer) clearInterval(timer);
      await Promise.all([...entries.keys()].map(remove));
    },
  };
}
