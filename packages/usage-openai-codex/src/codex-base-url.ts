/** Default ChatGPT backend base of the Codex usage and reset-credit endpoints. */
export const DEFAULT_CODEX_USAGE_BASE_URL = "https://chatgpt.com/backend-api";

const HONOURED_HOSTS = new Set(["chatgpt.com", "chat.openai.com"]);

/**
 * Resolve a caller-supplied base URL: only a `chatgpt.com` or
 * `chat.openai.com` URL is honoured, as `${origin}/backend-api` (its path dropped); anything else
 * — a streaming proxy, a blank or unparseable value — yields `fallback`.
 */
export function normalizeCodexBaseUrl(override: string | undefined, fallback = DEFAULT_CODEX_USAGE_BASE_URL): string {
	const trimmed = override?.trim();
	if (!trimmed) return fallback;
	try {
		const url = new URL(trimmed);
		return HONOURED_HOSTS.has(url.hostname.toLowerCase()) ? `${url.origin}/backend-api` : fallback;
	} catch {
		return fallback;
	}
}
