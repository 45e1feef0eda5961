export { createGeminiCliOAuth } from "./gemini-cli-oauth";
export {
	GEMINI_CLI_DEFAULT_ENDPOINTS,
	type GeminiCliEndpoints,
	type GeminiCliPluginOptions,
	type ResolvedGeminiCliOptions,
	resolveGeminiCliOptions,
} from "./gemini-cli-options";
export { createGeminiCliPlugin, googleGeminiCli } from "./gemini-cli-plugin";
export {
	createGeminiUsageProvider,
	type GeminiCodeAssistInfo,
	type GeminiQuotaScope,
	type GeminiUsageProviderOptions,
	geminiModelTier,
	parseGeminiQuotaBuckets,
	parseLoadCodeAssist,
} from "./gemini-usage-provider";
