export { createAntigravityOAuth } from "./antigravity-oauth";
export {
	ANTIGRAVITY_DEFAULT_ENDPOINTS,
	type AntigravityEndpoints,
	type AntigravityPluginOptions,
	type ResolvedAntigravityOptions,
	resolveAntigravityOptions,
} from "./antigravity-options";
export { createAntigravityPlugin, googleAntigravity } from "./antigravity-plugin";
export {
	antigravityCounterKeyForModel,
	antigravityRankingStrategy,
	scopeAntigravityLimits,
} from "./antigravity-ranking-strategy";
export {
	type AntigravityQuotaScope,
	type AntigravityUsageProviderOptions,
	createAntigravityUsageProvider,
	parseAntigravityModels,
} from "./antigravity-usage-provider";
