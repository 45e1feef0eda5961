export { hashGatewayToken } from "./client-auth";
export { type Gateway, type GatewayStats, startGateway } from "./gateway";
export type { GatewayOptions, GatewayPool, GatewayUpstream } from "./options";
export { SESSION_HEADERS, sessionFromHeaders } from "./session";
