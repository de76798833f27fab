/** The gateway: a Streamable HTTP MCP front for an unmodified MCP server. Re-exports only. */
export { startGateway, type Gateway, type GatewayDeps } from "./gateway.js";
export { gatewayConfigSchema, loadGatewayConfig, routesOf, splitCommand, type GatewayConfig, type GatewayRoute, type LoadGatewayConfigOptions, type UpstreamConfig } from "./config.js";
export { mountRoute, type MountedRoute, type RouteDeps } from "./mcp-route.js";
export { createUpstream, type Upstream, type UpstreamInfo } from "./upstream.js";
export { createRelayServer, relayedCapabilities, UPSTREAM_UNAVAILABLE, type RelayServerDeps } from "./relay-server.js";
export { PROTECTED_RESOURCE_PATH, protectedResourceMetadata, resourceMetadataUrl, invalidTokenChallenge } from "./protected-resource.js";
export { agentTokenSource } from "./agent-token.js";
