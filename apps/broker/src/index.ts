export { createAdminTokenVerifier, hashAdminToken, parseAdminTokenHashes } from "./admin-auth";
export {
	type BrokerApp,
	type BrokerAppOptions,
	type BrokerMountContext,
	type BrokerRouteHandler,
	startBrokerApp,
} from "./broker-app";
export type {
	DashboardAccount,
	DashboardBlock,
	DashboardHistoryPoint,
	DashboardProvider,
	DashboardQuota,
	DashboardState,
} from "./dashboard-state";
export type { DashboardEvent, DashboardEventKind } from "./event-log";
export {
	type BrokerAppConfig,
	BUILT_IN_PROVIDERS,
	brokerTokens,
	loadConfig,
	type MainOptions,
	main,
	openStore,
} from "./main";
