/**
 * The auth retry policy (docs/selection.md "Retry policy"), in two shapes over one error
 * classification (`classifyRequestFailure`):
 * - `createApiKeyResolver`: first call → resolve; after an auth error, not last chance → force-refresh
 *   the same row; last chance → rotate to a sibling and resolve. A usage-limit error rotates at once: a
 *   new token for the same exhausted account cannot help. The resolver remembers the key it handed out,
 *   so rotation names exactly the row that failed.
 * - `runWithAuth` (`storage.withAuth`): the whole loop around the caller's request.
 */
import { AbortedError, AuthpoolError } from "../errors";
import { errorMessage, errorStatus, isUsageLimitOutcome } from "../refresh/classify";
import type { SelectionOptions } from "./select";

/**
 * What a failed request means for its credential:
 * - `auth` (401): refresh the same row, then a sibling;
 * - `forbidden` (403): a sibling, no refresh;
 * - `concurrency` (403 for a concurrency cap): returned to the caller (another key would not help);
 * - `usage-limit` (usage-limit phrasing, `insufficient_quota`, an opaque 429): block until reset, rotate;
 * - `return`: everything else (generic 429, 5xx, network errors, 4xx) goes back to the caller.
 */
export type RequestFailureKind = "auth" | "forbidden" | "concurrency" | "usage-limit" | "return";

const CONCURRENCY_PATTERN = /concurren(?:cy|t)/i;

/** Classify an error a request failed with (status fields, `cause` chain, message). */
export function classifyRequestFailure(error: unknown): RequestFailureKind {
	const status = errorStatus(error);
	const message = errorMessage(error);
	if (isUsageLimitOutcome(status, message)) return "usage-limit";
	if (status === 401) return "auth";
	if (status === 403) return CONCURRENCY_PATTERN.test(message) ? "concurrency" : "forbidden";
	return "return";
}

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
		const usageLimited = classifyRequestFailure(error) === "usage-limit";
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

/** Options of `storage.withAuth`. */
export interface WithAuthOptions {
	sessionId?: string;
	modelId?: string;
	baseUrl?: string;
	/** Stops the loop (between attempts, and inside key resolution). */
	signal?: AbortSignal;
	/** Attempts in all (each with a different key). @default 4, at most `WITH_AUTH_MAX_ATTEMPTS` */
	maxAttempts?: number;
}

/** Default attempts of `withAuth`. */
export const WITH_AUTH_DEFAULT_ATTEMPTS = 4;
/** Hard cap of `withAuth` attempts, whatever `maxAttempts` says. */
export const WITH_AUTH_MAX_ATTEMPTS = 16;

/** What `runWithAuth` needs from the pool. */
export interface WithAuthTarget {
	getApiKey(provider: string, sessionId: string | undefined, options: SelectionOptions): Promise<string | undefined>;
	/** Force-refresh the OAuth row `key` came from; its new key, or `undefined` (not OAuth / no new token). */
	refreshKey(provider: string, key: string, signal: AbortSignal | undefined): Promise<string | undefined>;
	/** Block the row `key` came from until its limit resets. */
	markUsageLimitReached(
		provider: string,
		sessionId: string | undefined,
		options: { apiKey: string; modelId?: string; signal?: AbortSignal },
	): Promise<unknown>;
	/** Move off the row `key` came from after an auth error (blocked briefly, pin dropped). */
	rotateSessionCredential(
		provider: string,
		sessionId: string | undefined,
		options: { apiKey: string; error: unknown; modelId?: string; signal?: AbortSignal },
	): Promise<unknown>;
}

/**
 * Run `request` with keys from the pool until it succeeds or the failure is the caller's to handle
 * (see `RequestFailureKind`). A key is never tried twice; the signal stops the loop; at most
 * `maxAttempts` (hard cap `WITH_AUTH_MAX_ATTEMPTS`) requests are made. The last error is rethrown as is.
 * @throws AuthpoolError `NO_CREDENTIAL` when no key is available at all; `ABORTED` when the signal aborts.
 */
export async function runWithAuth<T>(
	target: WithAuthTarget,
	provider: string,
	request: (key: string, attempt: number) => Promise<T> | T,
	options: WithAuthOptions = {},
): Promise<T> {
	const { sessionId, modelId, baseUrl, signal } = options;
	const maxAttempts = Math.min(options.maxAttempts ?? WITH_AUTH_DEFAULT_ATTEMPTS, WITH_AUTH_MAX_ATTEMPTS);
	const tried = new Set<string>();
	const refreshed = new Set<string>();
	const checkAbort = () => {
		if (signal?.aborted) throw new AbortedError("withAuth aborted by caller", { cause: signal.reason });
	};
	checkAbort();
	let key = await target.getApiKey(provider, sessionId, { modelId, baseUrl, signal });
	if (key === undefined) throw new AuthpoolError("NO_CREDENTIAL", `No credential available for ${provider}`);
	for (let attempt = 1; ; attempt += 1) {
		checkAbort();
		tried.add(key);
		let failure: unknown;
		try {
			return await request(key, attempt);
		} catch (error) {
			failure = error;
		}
		checkAbort();
		const kind = classifyRequestFailure(failure);
		if (kind === "return" || kind === "concurrency" || attempt >= maxAttempts) throw failure;
		let next: string | undefined;
		if (kind === "auth" && !refreshed.has(key)) {
			// 401: the same row with a freshly minted token first.
			refreshed.add(key);
			next = await target.refreshKey(provider, key, signal).catch((error: unknown) => {
				if (signal?.aborted || (AuthpoolError.isInstance(error) && error.code === "ABORTED")) throw error;
				return undefined;
			});
			if (next !== undefined && !tried.has(next)) {
				refreshed.add(next);
				key = next;
				continue;
			}
		}
		if (kind === "usage-limit") {
			await target.markUsageLimitReached(provider, sessionId, { apiKey: key, modelId, signal });
		} else {
			await target.rotateSessionCredential(provider, sessionId, { apiKey: key, error: failure, modelId, signal });
		}
		next = await target.getApiKey(provider, sessionId, { modelId, baseUrl, signal });
		if (next === undefined || tried.has(next)) throw failure;
		key = next;
	}
}
