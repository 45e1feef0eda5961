/**
 * The auth retry policy as a key resolver (DESIGN.md §4 "Retry policy"): first call → resolve; after
 * an error, not last chance → force-refresh the same row; last chance → rotate to a sibling and resolve.
 */
import type { SelectionOptions } from "./select";

/** One step of a request's auth retries. */
export interface ApiKeyResolverInput {
	/** The error of the previous attempt; absent on the first call. */
	error?: unknown;
	/** The caller will not retry after this attempt: rotate rather than re-mint. */
	lastChance?: boolean;
	signal?: AbortSignal;
}

/** Returns the key for the next attempt (`undefined` when none is available). */
export type ApiKeyResolver = (input?: ApiKeyResolverInput) => Promise<string | undefined>;

/** What the policy needs from the pool. */
export interface RetryTarget {
	getApiKey(provider: string, sessionId?: string, options?: SelectionOptions): Promise<string | undefined>;
	rotateSessionCredential(
		provider: string,
		sessionId: string | undefined,
		options?: { error?: unknown; modelId?: string; signal?: AbortSignal },
	): Promise<boolean>;
}

export interface ResolverOptions {
	sessionId?: string;
	modelId?: string;
	baseUrl?: string;
}

/** Build the a/b/c resolver for one provider (and session). */
export function createApiKeyResolver(
	target: RetryTarget,
	provider: string,
	options: ResolverOptions = {},
): ApiKeyResolver {
	const { sessionId, modelId, baseUrl } = options;
	return async (input = {}) => {
		const { error, lastChance, signal } = input;
		if (error === undefined) return target.getApiKey(provider, sessionId, { modelId, baseUrl, signal });
		if (lastChance) {
			await target.rotateSessionCredential(provider, sessionId, { error, modelId, signal });
			return target.getApiKey(provider, sessionId, { modelId, baseUrl, signal });
		}
		return target.getApiKey(provider, sessionId, { modelId, baseUrl, signal, forceRefresh: true });
	};
}
