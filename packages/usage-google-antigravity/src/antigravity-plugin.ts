import type { ProviderPlugin } from "@authpool/core";
import { createAntigravityOAuth } from "./antigravity-oauth";
import { type AntigravityPluginOptions, resolveAntigravityOptions } from "./antigravity-options";
import { antigravityRankingStrategy } from "./antigravity-ranking-strategy";
import { createAntigravityUsageProvider } from "./antigravity-usage-provider";

/**
 * Build the `google-antigravity` plugin: per-counter quota limits, counter-scoped ranking and blocks,
 * Google OAuth refresh (projectId required) and the JSON API-key blob. OAuth only: no environment variable.
 * @throws AuthpoolError `INVALID_OPTIONS` when an option is malformed.
 * @example
 * const storage = new AuthStorage(store, { providers: [createAntigravityPlugin()] });
 */
export function createAntigravityPlugin(options: AntigravityPluginOptions = {}): ProviderPlugin {
	const resolved = resolveAntigravityOptions(options);
	return {
		id: "google-antigravity",
		name: "Antigravity",
		usage: createAntigravityUsageProvider({
			endpoints: resolved.endpoints.endpoints,
			...(resolved.version ? { version: resolved.version } : {}),
		}),
		ranking: antigravityRankingStrategy,
		oauth: createAntigravityOAuth({
			tokenUrl: resolved.endpoints.tokenUrl,
			clientId: resolved.clientId,
			clientSecret: resolved.clientSecret,
			includeRefreshTokenInApiKey: resolved.includeRefreshTokenInApiKey,
		}),
	};
}

/** The `google-antigravity` plugin with the real Google endpoints. */
export const googleAntigravity: ProviderPlugin = createAntigravityPlugin();
