import type { ProviderPlugin } from "@authpool/core";
import { createCopilotOAuth } from "./copilot-oauth";
import { type GithubCopilotPluginOptions, resolveGithubCopilotOptions } from "./copilot-options";
import { createCopilotUsageProvider } from "./copilot-usage-provider";

/**
 * Build the `github-copilot` plugin: premium-request quota, the no-network "refresh" of a GitHub token,
 * the JSON API-key blob, GitHub device-code login, and `COPILOT_GITHUB_TOKEN` as the env key.
 * @throws AuthpoolError `INVALID_OPTIONS` when an option is malformed.
 * @example
 * const storage = new AuthStorage(store, { providers: [createGithubCopilotPlugin()] });
 */
export function createGithubCopilotPlugin(options: GithubCopilotPluginOptions = {}): ProviderPlugin {
	const resolved = resolveGithubCopilotOptions(options);
	return {
		id: "github-copilot",
		name: "GitHub Copilot",
		envApiKeys: ["COPILOT_GITHUB_TOKEN"],
		usage: createCopilotUsageProvider({ githubApiBaseUrl: resolved.endpoints.githubApiBaseUrl }),
		oauth: createCopilotOAuth({
			clientId: resolved.clientId,
			githubBaseUrl: resolved.endpoints.githubBaseUrl,
			githubApiBaseUrl: resolved.endpoints.githubApiBaseUrl,
			includeRefreshTokenInApiKey: resolved.includeRefreshTokenInApiKey,
			...(resolved.pollWait ? { pollWait: resolved.pollWait } : {}),
		}),
	};
}

/** The `github-copilot` plugin with the real GitHub endpoints. */
export const githubCopilot: ProviderPlugin = createGithubCopilotPlugin();
