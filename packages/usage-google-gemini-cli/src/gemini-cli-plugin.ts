import type { ProviderPlugin } from "@authpool/core";
import { createGeminiCliOAuth } from "./gemini-cli-oauth";
import { type GeminiCliPluginOptions, resolveGeminiCliOptions } from "./gemini-cli-options";
import { createGeminiUsageProvider } from "./gemini-usage-provider";

/**
 * Build the `google-gemini-cli` plugin: Code Assist quota buckets, Google OAuth refresh (projectId
 * required) and the JSON API-key blob. OAuth only: no environment variable.
 * @throws AuthpoolError `INVALID_OPTIONS` when an option is malformed.
 * @example
 * const storage = new AuthStorage(store, { providers: [createGeminiCliPlugin()] });
 */
export function createGeminiCliPlugin(options: GeminiCliPluginOptions = {}): ProviderPlugin {
	const resolved = resolveGeminiCliOptions(options);
	return {
		id: "google-gemini-cli",
		name: "Gemini CLI",
		usage: createGeminiUsageProvider({
			codeAssistBaseUrl: resolved.endpoints.codeAssistBaseUrl,
			...(resolved.cliVersion ? { cliVersion: resolved.cliVersion } : {}),
		}),
		oauth: createGeminiCliOAuth({
			tokenUrl: resolved.endpoints.tokenUrl,
			clientId: resolved.clientId,
			clientSecret: resolved.clientSecret,
			includeRefreshTokenInApiKey: resolved.includeRefreshTokenInApiKey,
		}),
	};
}

/** The `google-gemini-cli` plugin with the real Google endpoints. */
export const googleGeminiCli: ProviderPlugin = createGeminiCliPlugin();
