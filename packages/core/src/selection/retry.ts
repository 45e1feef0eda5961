/**
 * The auth retry policy as a key resolver (docs/selection.md "Retry policy"): first call → resolve; after
 * an auth error, not last chance → force-refresh the same row; last chance → rotate to a sibling and
 * resolve. A usage-limit error rotates at once: a new token for the same exhausted account cannot help.
 * The resolver remembers the key it handed out, so rotation names exactly the row that failed.
 */
import { errorMessage, errorStatus, isUsageLimitOutcome } from "../refresh/classify";
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
		options?: { error?: unknown; apiKey?: string; modelId?: string; signal?: AbortSignal },
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
	let handedOut: string | undefined;
	const remember = (key: string | undefined) => {
		handedOut = key;
		return key;
	};
	return async (input = {}) => {
		const { error, lastChance, signal } = input;
		if (error === undefined) return remember(await target.getApiKey(provider, sessionId, { modelId, baseUrl, signal }));
		const usageLimited = isUsageLimitOutcome(errorStatus(error), errorMessage(error));
		if (lastChance || usageLimited) {
			await target.rotateSessionCredential(provider, sessionId, {
				error,
				modelId,
				signal,
				...(handedOut !== undefined ? { apiKey: handedOut } : {}),
			});
			return remember(await target.getApiKey(provider, sessionId, { modelId, baseUrl, signal }));
		}
		return remember(
			await target.getApiKey(provider, sessionId, {
				modelId,
				baseUrl,
				signal,
				forceRefresh: true,
				...(handedOut !== undefined ? { rejectedKey: handedOut } : {}),
			}),
		);
	};
}
