/**
 * Stepping around a row that hit a limit or an auth error: usage-limit blocks (deadline from
 * retry-after and a fresh usage report), rotation after auth errors (block, drop the pin, tell the
 * upstream authority), and invalidation by the key a request used.
 */

import { AuthpoolError } from "../errors";
import type { ProviderRegistry } from "../plugin";
import type { ConfigValueResolver } from "../pool/cascade";
import type { CredentialPool } from "../pool/pool";
import { errorMessage, errorStatus, isUsageLimitOutcome } from "../refresh/classify";
import type { AuthCredentialStore } from "../store/store";
import type { Clock, Logger, StoredAuthCredential } from "../types";
import type { UsageService } from "../usage/service";
import { redactString } from "../util/redact";
import type { SessionAffinity } from "./affinity";
import { type BlockKind, type CredentialBlocks, DEFAULT_BLOCK_MS, providerTypeKey } from "./blocks";
import { exhaustedUntil } from "./rank";
import type { CredentialSelector } from "./select";

/** Outcome of `markUsageLimitReached`. */
export interface UsageLimitMarkResult {
	/** A sibling of the same type is usable right now (the next `getApiKey` gets it). */
	switched: boolean;
	/** When not switched: the earliest time a blocked sibling frees up (absent without siblings). */
	retryAtMs?: number;
}

export interface MarkUsageLimitOptions {
	/** Provider's retry-after. @default 60_000 */
	retryAfterMs?: number;
	/**
	 * The key the limited request used. Identifies the row exactly; recommended without a session, where
	 * "the row handed out last" is only a guess once sessionless requests run concurrently.
	 */
	apiKey?: string;
	modelId?: string;
	baseUrl?: string;
	signal?: AbortSignal;
}

export interface RotateSessionOptions {
	/** The error the request failed with (usage-limit vs auth error decides the action). */
	error?: unknown;
	/** The key the failed request used: names the row exactly (see `MarkUsageLimitOptions.apiKey`). */
	apiKey?: string;
	modelId?: string;
	signal?: AbortSignal;
}

export interface InvalidateCredentialMatchingOptions {
	sessionId?: string;
	signal?: AbortSignal;
}

export interface CredentialRotationOptions {
	pool: CredentialPool;
	blocks: CredentialBlocks;
	affinity: SessionAffinity;
	selector: CredentialSelector;
	registry: ProviderRegistry;
	usage: () => UsageService;
	store: AuthCredentialStore;
	clock: Clock;
	logger: Logger;
	configValueResolver: ConfigValueResolver;
}

function isAbort(error: unknown, signal: AbortSignal | undefined): boolean {
	return signal?.aborted === true || (AuthpoolError.isInstance(error) && error.code === "ABORTED");
}

/** Limit and auth-error handling for the pool. */
export class CredentialRotation {
	readonly #o: CredentialRotationOptions;

	constructor(options: CredentialRotationOptions) {
		this.#o = options;
	}

	/** The row a session (or, without one, the provider's last request) is using. */
	async currentRow(provider: string, sessionId: string | undefined): Promise<StoredAuthCredential | undefined> {
		const { pool, affinity, selector } = this.#o;
		if (sessionId) {
			const pin = await affinity.get(provider, sessionId);
			const row = pin ? pool.get(pin.credentialId) : undefined;
			return row && row.provider === provider ? row : undefined;
		}
		for (const type of ["oauth", "api_key"] as const) {
			const id = selector.lastUsed(provider, type);
			const row = id === undefined ? undefined : pool.get(id);
			if (row && row.provider === provider) return row;
		}
		return undefined;
	}

	/**
	 * Block the session's row until the later of retry-after and the reset of an exhausted limit in a
	 * fresh usage report (scoped by the strategy's block scope); report whether a sibling is usable.
	 */
	async markUsageLimitReached(
		provider: string,
		sessionId: string | undefined,
		options: MarkUsageLimitOptions = {},
	): Promise<UsageLimitMarkResult> {
		const { pool, blocks, registry, clock } = this.#o;
		await pool.sync();
		// A key that no longer matches (the row was refreshed since) falls back to the session's row.
		const row =
			(options.apiKey !== undefined ? await this.rowMatching(provider, options.apiKey) : undefined) ??
			(await this.currentRow(provider, sessionId));
		if (!row) return { switched: false };
		const type = row.credential.type;
		const providerKey = providerTypeKey(provider, type);
		const strategy = registry.get(provider)?.ranking;
		const ctx = { modelId: options.modelId };
		const scope = strategy?.blockScope?.(ctx) ?? "";
		const retryAfterMs =
			options.retryAfterMs !== undefined && Number.isFinite(options.retryAfterMs) && options.retryAfterMs >= 0
				? options.retryAfterMs
				: DEFAULT_BLOCK_MS;
		let until = clock.now() + retryAfterMs;
		let kind: BlockKind = "retry-after";
		const reportUntil = await this.#reportDeadline(row, options);
		if (reportUntil !== undefined && reportUntil > until) {
			until = reportUntil;
			kind = "usage";
		}
		await blocks.block(row.id, providerKey, until, { scope, kind });
		return this.#siblingAvailability(provider, row, scope);
	}

	async #reportDeadline(row: StoredAuthCredential, options: MarkUsageLimitOptions): Promise<number | undefined> {
		const { registry, clock, logger } = this.#o;
		const plugin = registry.get(row.provider);
		if (!plugin?.usage) return undefined;
		try {
			const usage = this.#o.usage();
			if (!usage.supports(row, options.baseUrl)) return undefined;
			const report = await usage.getReport(row, {
				forceRefresh: true,
				baseUrl: options.baseUrl,
				signal: options.signal,
			});
			if (!report) return undefined;
			return exhaustedUntil(report, plugin.ranking, {
				now: clock.now(),
				modelId: options.modelId,
				defaultBlockMs: DEFAULT_BLOCK_MS,
			});
		} catch (error) {
			if (isAbort(error, options.signal)) throw error;
			logger.debug("usage report for limit unavailable", {
				provider: row.provider,
				id: row.id,
				error: redactString(errorMessage(error)),
			});
			return undefined;
		}
	}

	#siblingAvailability(provider: string, row: StoredAuthCredential, scope: string): UsageLimitMarkResult {
		const providerKey = providerTypeKey(provider, row.credential.type);
		let retryAtMs: number | undefined;
		for (const sibling of this.#o.pool.rows(provider, row.credential.type)) {
			if (sibling.id === row.id) continue;
			const until = this.#o.blocks.blockedUntil(sibling.id, providerKey, scope);
			if (until === undefined) return { switched: true };
			if (retryAtMs === undefined || until < retryAtMs) retryAtMs = until;
		}
		return retryAtMs === undefined ? { switched: false } : { switched: false, retryAtMs };
	}

	/**
	 * Move a session off its row after a retryable error: a usage-limit error blocks it through
	 * `markUsageLimitReached`; anything else (hard 401/403) marks it suspect: blocked 60 s, pin dropped,
	 * the upstream authority told. Returns whether a different row is usable now.
	 */
	async rotateSessionCredential(
		provider: string,
		sessionId: string | undefined,
		options: RotateSessionOptions = {},
	): Promise<boolean> {
		await this.#o.pool.sync();
		const row =
			(options.apiKey !== undefined ? await this.rowMatching(provider, options.apiKey) : undefined) ??
			(await this.currentRow(provider, sessionId));
		if (!row) return false;
		const error = options.error;
		if (error !== undefined && isUsageLimitOutcome(errorStatus(error), errorMessage(error))) {
			const result = await this.markUsageLimitReached(provider, sessionId, {
				modelId: options.modelId,
				signal: options.signal,
				...(options.apiKey !== undefined ? { apiKey: options.apiKey } : {}),
			});
			return result.switched;
		}
		const hasSibling = this.#siblingAvailability(provider, row, "").switched;
		await this.#markSuspect(provider, row, sessionId, options.signal);
		return hasSibling;
	}

	/**
	 * A request failed with `apiKey`: find the row that key came from, block it 60 s, drop the
	 * session's pin and tell the upstream authority. `false` when no loaded row matches.
	 */
	/** The provider's row whose handed-out key is `apiKey`. */
	async rowMatching(provider: string, apiKey: string): Promise<StoredAuthCredential | undefined> {
		for (const row of this.#o.pool.rows(provider)) {
			if (await this.#matches(row, apiKey)) return row;
		}
		return undefined;
	}

	async invalidateCredentialMatching(
		provider: string,
		apiKey: string,
		options: InvalidateCredentialMatchingOptions = {},
	): Promise<boolean> {
		await this.#o.pool.sync();
		const matched = await this.rowMatching(provider, apiKey);
		if (!matched) {
			await this.#o.pool.reload();
			return false;
		}
		await this.#markSuspect(provider, matched, options.sessionId, options.signal);
		return true;
	}

	async #matches(row: StoredAuthCredential, apiKey: string): Promise<boolean> {
		const credential = row.credential;
		if (credential.type === "api_key") {
			if (credential.key === apiKey) return true;
			return (await this.#o.configValueResolver(credential.key)) === apiKey;
		}
		if (credential.access === apiKey) return true;
		if (this.#o.selector.apiKeyOf(row) === apiKey) return true;
		// Structured keys (`{"token": ...}`, e.g. Copilot) carry the access token inside.
		if (apiKey.startsWith("{")) {
			try {
				const parsed = JSON.parse(apiKey) as { token?: unknown };
				return parsed.token === credential.access;
			} catch {
				return false;
			}
		}
		return false;
	}

	async #markSuspect(
		provider: string,
		row: StoredAuthCredential,
		sessionId: string | undefined,
		signal: AbortSignal | undefined,
	): Promise<void> {
		const { affinity, blocks, clock, store, pool, logger } = this.#o;
		affinity.drop(provider, sessionId);
		await blocks.block(row.id, providerTypeKey(provider, row.credential.type), clock.now() + DEFAULT_BLOCK_MS, {
			kind: "suspect",
		});
		const markSuspect = store.upstream?.markCredentialSuspect;
		if (markSuspect) {
			try {
				await markSuspect.call(store.upstream, row.id, { signal });
			} catch (error) {
				if (isAbort(error, signal)) throw error;
				logger.warn("could not mark credential suspect upstream", {
					provider,
					id: row.id,
					error: redactString(errorMessage(error)),
				});
			}
		}
		await pool.reload();
	}
}
