import type { ProviderPlugin, UsageFetchParams, UsageProvider, UsageReport } from "@authpool/core";

const NOTE =
	"Ollama does not expose a standalone quota usage API; per-response token usage is reported during requests.";

/**
 * A usage provider that makes no HTTP call: Ollama has no quota API. It exists so accounts show up in usage
 * views. `validatesCredentials: false` — a report proves nothing about the key.
 */
export function createOllamaUsageProvider(providerId: string): UsageProvider {
	return {
		validatesCredentials: false,
		supports: (params: UsageFetchParams) => params.provider === providerId,
		async fetchUsage(params, ctx): Promise<UsageReport | null> {
			if (params.provider !== providerId) return null;
			const metadata: Record<string, unknown> = {};
			const { credential } = params;
			if (credential.email) metadata.email = credential.email;
			if (credential.accountId) metadata.accountId = credential.accountId;
			if (credential.projectId) metadata.projectId = credential.projectId;
			return {
				provider: providerId,
				fetchedAt: ctx.clock.now(),
				limits: [],
				notes: [NOTE],
				...(Object.keys(metadata).length > 0 ? { metadata } : {}),
			};
		},
	};
}

/** Build the `ollama` plugin (local or self-hosted Ollama; API key from `OLLAMA_API_KEY`). */
export function createOllamaPlugin(): ProviderPlugin {
	return { id: "ollama", name: "Ollama", envApiKeys: ["OLLAMA_API_KEY"], usage: createOllamaUsageProvider("ollama") };
}

/** Build the `ollama-cloud` plugin (API key from `OLLAMA_CLOUD_API_KEY`). */
export function createOllamaCloudPlugin(): ProviderPlugin {
	return {
		id: "ollama-cloud",
		name: "Ollama Cloud",
		envApiKeys: ["OLLAMA_CLOUD_API_KEY"],
		usage: createOllamaUsageProvider("ollama-cloud"),
	};
}

/** The `ollama` plugin. */
export const ollama: ProviderPlugin = createOllamaPlugin();
/** The `ollama-cloud` plugin. */
export const ollamaCloud: ProviderPlugin = createOllamaCloudPlugin();
