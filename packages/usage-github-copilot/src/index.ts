export {
	COPILOT_TOKEN_LIFETIME_MS,
	type CopilotLoginConfig,
	createCopilotOAuth,
	loginCopilotWithDeviceCode,
	refreshCopilotCredential,
} from "./copilot-oauth";
export {
	GITHUB_COPILOT_DEFAULT_ENDPOINTS,
	type GithubCopilotEndpoints,
	type GithubCopilotPluginOptions,
	type PollWait,
	type ResolvedGithubCopilotOptions,
	resolveGithubCopilotOptions,
} from "./copilot-options";
export { createGithubCopilotPlugin, githubCopilot } from "./copilot-plugin";
export {
	type CopilotUsageProviderOptions,
	createCopilotUsageProvider,
	parseCopilotBillingUsage,
	parseCopilotInternalUser,
	resolveGithubApiBaseUrl,
} from "./copilot-usage-provider";
