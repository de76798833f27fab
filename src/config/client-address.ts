import { readFileSync } from "node:fs";
import { PdpError } from "../errors.js";

/** The port the PDP listens on when nothing else is configured. */
export const DEFAULT_PORT = 50051;

const WILDCARD = /^(0\.0\.0\.0|::|\[::\]|)$/;

function fail(message: string): never {
  throw new PdpError("CONFIG_INVALID", `config: ${message}`);
}

/**
 * Where the CLI's client commands find the PDP when neither `--address` nor `MCP_PDP_ADDRESS`
 * says: the host and port the PDP is configured to listen on — `MCP_PDP_HOST`/`MCP_PDP_PORT`,
 * else `host`/`port` of the config file (`MCP_PDP_CONFIG`), else 127.0.0.1:50051; a wildcard
 * host is dialled on loopback. Reads only those two keys: the rest of the file is the server's
 * business. Throws PdpError CONFIG_INVALID naming the setting.
 */
export function defaultAddress(env: NodeJS.ProcessEnv = process.env): string {
  let file: Record<string, unknown> = {};
  const path = env.MCP_PDP_CONFIG;
  if (path) {
    try {
      const parsed: unknown = JSON.parse(readFileSync(path, "utf8"));
      if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) file = parsed as Record<string, unknown>;
    } catch (err) {
      fail(`cannot read ${path} (MCP_PDP_CONFIG): ${(err as Error).message}`);
    }
  }
  const [portValue, portFrom] = env.MCP_PDP_PORT ? [env.MCP_PDP_PORT, "MCP_PDP_PORT"] : [file.port, path];
  const port = portValue === undefined ? DEFAULT_PORT : typeof portValue === "string" ? Number(portValue) : portValue;
  if (typeof port !== "number" || !Number.isInteger(port) || port < 0 || port > 65535)
    fail(`port must be an integer in [0, 65535] (got ${JSON.stringify(portValue)} from ${portFrom})`);
  if (port === 0) fail(`port is 0 (${portFrom}): the PDP picks a free port at start, so say which with --address or MCP_PDP_ADDRESS`);
  const hostValue = env.MCP_PDP_HOST ?? file.host;
  const host = typeof hostValue === "string" && !WILDCARD.test(hostValue) ? hostValue : "127.0.0.1";
  return `${host.includes(":") && !host.startsWith("[") ? `[${host}]` : host}:${port}`;
}

/** HOST:PORT (host a name, an IPv4 address or a bracketed IPv6 one), or a gRPC target URI. */
const ADDRESS = /^((\[[0-9a-fA-F:.]+\]|[^\s:/[\]]+):\d{1,5}|(dns|ipv4|ipv6|unix|unix-abstract|vsock):\S+)$/;

/**
 * The address every client command dials: `--address` (given as `flag`), else `MCP_PDP_ADDRESS`,
 * else {@link defaultAddress}. Throws PdpError CONFIG_INVALID naming the setting.
 */
export function clientAddress(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const [address, from] = flag !== undefined ? [flag, "--address"] : env.MCP_PDP_ADDRESS ? [env.MCP_PDP_ADDRESS, "MCP_PDP_ADDRESS"] : [undefined, ""];
  if (address === undefined) {
    try {
      return defaultAddress(env);
    } catch (err) {
      const e = PdpError.from(err, "CONFIG_INVALID");
      throw new PdpError("CONFIG_INVALID", `${e.message} — the CLI dials the PDP's configured port; pass --address HOST:PORT or set MCP_PDP_ADDRESS`);
    }
  }
  if (!ADDRESS.test(address)) throw new PdpError("CONFIG_INVALID", `${from} must be HOST:PORT, e.g. 127.0.0.1:50051 (got ${JSON.stringify(address)})`);
  return address;
}
