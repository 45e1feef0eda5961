/**
 * Which row serves a request (docs/selection.md "Selection"): candidates of one type in stable id order,
 * a session's hash start index then its pin, round-robin without a session, blocked rows skipped
 * (all blocked → the first to unblock), usage ranking through the provider's strategy for sessions
 * without an available pin, and the OAuth freshness ladder. Rows are addressed by id throughout.
 */

import { AuthpoolError } from "../errors";
import type { ProviderRegistry } from "../plugin";
import type { CredentialPool } from "../pool/pool";
import { errorMessage, isDefinitiveRefreshFailure } from "../refresh/classify";
import type { OAuthRefresher } from "../refresh/refresh";
import type { AuthCredentialStore } from "../store/store";
import type { Clock, CredentialType, Logger, OAuthCredential, StoredAuthCredential } from "../types";
import type { UsageService } from "../usage/service";
import type { CredentialRankingStrategy, UsageReport } from "../usage/types";
import { xxHash32 } from "../util/hash";
import { redactString } from "../util/redact";
import type { SessionAffinity } from "./affinity";
import { type CredentialBlocks, DEFAULT_BLOCK_MS, providerTypeKey } from "./blocks";
import { compareMetric, exhaustedUntil, type RankCandidate, type RankedCandidate, rankCandidates } from "./rank";

/** Per-request selection options (the `getApiKey` options). */
export interface SelectionOptions {
	/** Model the request is for (block scope, plan gates). */
	modelId?: string;
	/** Provider base URL (usage endpoints differ per host). */
	baseUrl?: string;
	/** Rejects only this caller; shared refreshes keep running. */
	signal?: AbortSignal;
	/** Re-mint the session's (or the first candidate's) access token even if it looks fresh. */
	forceRefresh?: boolean;
	/**
	 * With `forceRefresh`: the key the provider just rejected. When the stored token already differs from
	 * it (a peer refreshed meanwhile), that token is adopted instead of refreshing again.
	 */
	rejectedKey?: string;
}

/** A chosen OAuth row with its fresh credential and the string handed out as the key. */
export interface OAuthSelection {
	row: StoredAuthCredential;
	credential: OAuthCredential;
	apiKey: string;
}

export interface CredentialSelectorOptions {
	pool: CredentialPool;
	blocks: CredentialBlocks;
	affinity: SessionAffinity;
	registry: ProviderRegistry;
	refresher: OAuthRefresher;
	/** Lazily created usage service (only ranking and limit checks need it). */
	usage: () => UsageService;
	store: AuthCredentialStore;
	clock: Clock;
	logger: Logger;
}

/** Start index of a session among `total` rows: `xxHash32(sessionId) % total`. */
export function sessionStartIndex(sessionId: string, total: number): number {
	return total <= 1 ? 0 : xxHash32(sessionId) % total;
}

/** `rows` rotated to start at `start`. */
export function rotate<T>(rows: readonly T[], start: number): T[] {
	if (start === 0) return [...rows];
	return [...rows.slice(start), ...rows.slice(0, start)];
}

function samePriority(left: RankedCandidate, right: RankedCandidate): boolean {
	return (
		left.planPriority === right.planPriority &&
		left.hasPriorityBoost === right.hasPriorityBoost &&
		compareMetric(left.secondaryDrainRate, right.secondaryDrainRate) === 0 &&
		compareMetric(left.secondaryUsed, right.secondaryUsed) === 0 &&
		compareMetric(left.primaryDrainRate, right.primaryDrainRate) === 0 &&
		compareMetric(left.primaryUsed, right.primaryUsed) === 0
	);
}

/**
 * Put a session's pick first: a weighted hash draw among the unblocked ranked rows (better buckets
 * weigh up to twice as much), so fresh sessions spread over good accounts instead of piling onto the
 * single best one.
 */
export function drawForSession(ranked: readonly RankedCandidate[], sessionId: string): RankedCandidate[] {
	const unblocked = ranked.filter((candidate) => !candidate.blocked);
	if (unblocked.length <= 1) return [...ranked];
	const buckets: number[] = [];
	let bucket = 0;
	for (let i = 0; i < unblocked.length; i += 1) {
		if (i > 0 && !samePriority(unblocked[i - 1]!, unblocked[i]!)) bucket += 1;
		buckets.push(bucket);
	}
	const maxBucket = bucket;
	const weights = buckets.map((b) => 1 + (maxBucket === 0 ? 0 : 1 - b / maxBucket));
	const total = weights.reduce((sum, weight) => sum + weight, 0);
	const hit = (xxHash32(sessionId) / 2 ** 32) * total;
	let cursor = 0;
	let selected = unblocked[unblocked.length - 1]!;
	for (let i = 0; i < unblocked.length; i += 1) {
		cursor += weights[i]!;
		if (hit < cursor) {
			selected = unblocked[i]!;
			break;
		}
	}
	return [selected, ...unblocked.filter((c) => c !== selected), ...ranked.filter((c) => c.blocked)];
}

function isCallerAbort(error: unknown, signal: AbortSignal | undefined): boolean {
	return signal?.aborted === true || (AuthpoolError.isInstance(error) && error.code === "ABORTED");
}

/** Chooses rows; owns the round-robin counters and the last row handed out per `provider:type`. */
export class CredentialSelector {
	readonly #o: CredentialSelectorOptions;
	readonly #roundRobin = new Map<string, number>();
	readonly #lastUsed = new Map<string, number>();

	constructor(options: CredentialSelectorOptions) {
		this.#o = options;
	}

	/** Forget round-robin positions of a provider (its rows changed). */
	resetProvider(provider: string): void {
		for (const type of ["oauth", "api_key"] as const) this.#roundRobin.delete(providerTypeKey(provider, type));
	}

	/** Row id handed out last for `provider:type` (the sessionless stand-in for a pin). */
	lastUsed(provider: string, type: CredentialType): number | undefined {
		return this.#lastUsed.get(providerTypeKey(provider, type));
	}

	/** The key string for a row: `plugin.oauth.toApiKey(cred)` or the access token; the key for API keys. */
	apiKeyOf(row: StoredAuthCredential): string {
		const credential = row.credential;
		if (credential.type === "api_key") return credential.key;
		return this.#o.registry.get(row.provider)?.oauth?.toApiKey?.(credential) ?? credential.access;
	}

	#nextRoundRobin(providerKey: string, total: number): number {
		if (total <= 1) return 0;
		const next = ((this.#roundRobin.get(providerKey) ?? -1) + 1) % total;
		this.#roundRobin.set(providerKey, next);
		return next;
	}

	#order(rows: readonly StoredAuthCredential[], providerKey: string, sessionId: string | undefined) {
		const start = sessionId
			? sessionStartIndex(sessionId, rows.length)
			: this.#nextRoundRobin(providerKey, rows.length);
		return rotate(rows, start);
	}

	/** The session's pinned row of `type` if it is still loaded; a pin to a gone row is dropped. */
	async #pinned(
		provider: string,
		type: CredentialType,
		sessionId: string | undefined,
	): Promise<StoredAuthCredential | undefined> {
		if (!sessionId) return undefined;
		const pin = await this.#o.affinity.get(provider, sessionId);
		if (!pin || pin.type !== type) return undefined;
		const row = this.#o.pool.get(pin.credentialId);
		if (row && row.provider === provider && row.credential.type === type) return row;
		await this.#o.affinity.drop(provider, sessionId);
		return undefined;
	}

	/**
	 * Memory-only guess of the row a request would use (no refresh, no round-robin advance, no
	 * writes): the session's pin if usable, else the first unblocked row, else the first row.
	 */
	peek(provider: string, type: CredentialType, sessionId?: string): StoredAuthCredential | undefined {
		const rows = this.#o.pool.rows(provider, type);
		if (rows.length === 0) return undefined;
		const providerKey = providerTypeKey(provider, type);
		const pin = this.#o.affinity.peek(provider, sessionId);
		if (pin?.type === type) {
			const row = this.#o.pool.get(pin.credentialId);
			if (row && row.provider === provider && !this.#o.blocks.isBlocked(row.id, providerKey)) return row;
		}
		return rows.find((row) => !this.#o.blocks.isBlocked(row.id, providerKey)) ?? rows[0];
	}

	/**
	 * Pick a stored API key row (pin, then hash/round-robin order, skipping blocked rows). Model-scoped
	 * blocks (the strategy's `blockScope` for `options.modelId`) apply as they do to OAuth rows.
	 */
	async selectApiKey(
		provider: string,
		sessionId?: string,
		options: Pick<SelectionOptions, "modelId"> = {},
	): Promise<StoredAuthCredential | undefined> {
		const rows = this.#o.pool.rows(provider, "api_key");
		if (rows.length === 0) return undefined;
		const providerKey = providerTypeKey(provider, "api_key");
		const scope = this.#o.registry.get(provider)?.ranking?.blockScope?.({ modelId: options.modelId }) ?? "";
		const pinned = await this.#pinned(provider, "api_key", sessionId);
		let chosen: StoredAuthCredential | undefined;
		if (pinned && !this.#o.blocks.isBlocked(pinned.id, providerKey, scope)) {
			chosen = pinned;
		} else {
			let fallback: { row: StoredAuthCredential; until: number } | undefined;
			for (const row of this.#order(rows, providerKey, sessionId)) {
				const until = this.#o.blocks.blockedUntil(row.id, providerKey, scope);
				if (until === undefined) {
					chosen = row;
					break;
				}
				if (!fallback || until < fallback.until) fallback = { row, until };
			}
			chosen ??= fallback?.row;
		}
		if (!chosen) return undefined;
		this.#lastUsed.set(providerKey, chosen.id);
		await this.#o.affinity.set(provider, sessionId, { type: "api_key", credentialId: chosen.id });
		return chosen;
	}

	/**
	 * The hot path, synchronously and from memory only: the session's pinned row (or, without a session
	 * and without usage ranking, the next round-robin row) when it is unblocked and fresh, no upstream
	 * hook must be consulted and no refresh is forced. `undefined` sends the caller down `resolveOAuth`,
	 * which reaches the same answer the long way (so this is purely a shortcut, never a different policy).
	 */
	warmOAuth(provider: string, sessionId: string | undefined, options: SelectionOptions): OAuthSelection | undefined {
		if (options.forceRefresh || this.#o.store.upstream?.prepareForRequest) return undefined;
		const rows = this.#o.pool.rows(provider, "oauth");
		if (rows.length === 0) return undefined;
		const providerKey = providerTypeKey(provider, "oauth");
		const strategy = this.#o.registry.get(provider)?.ranking;
		let row: StoredAuthCredential | undefined;
		let roundRobin: number | undefined;
		if (sessionId) {
			const pin = this.#o.affinity.cached(provider, sessionId);
			if (pin?.type !== "oauth") return undefined;
			row = this.#o.pool.get(pin.credentialId);
			if (row?.provider !== provider) return undefined;
		} else {
			if (strategy && rows.length > 1) return undefined;
			// The position `#nextRoundRobin` would take; committed only if the shortcut succeeds.
			roundRobin = rows.length <= 1 ? 0 : ((this.#roundRobin.get(providerKey) ?? -1) + 1) % rows.length;
			row = rows[roundRobin];
		}
		if (row?.credential.type !== "oauth") return undefined;
		const scope = strategy?.blockScope?.({ modelId: options.modelId }) ?? "";
		if (this.#o.blocks.isBlocked(row.id, providerKey, scope) || !this.#o.refresher.isFresh(row.credential)) {
			return undefined;
		}
		if (roundRobin !== undefined && rows.length > 1) this.#roundRobin.set(providerKey, roundRobin);
		this.#lastUsed.set(providerKey, row.id);
		return { row, credential: row.credential, apiKey: this.apiKeyOf(row) };
	}

	/**
	 * Resolve a fresh OAuth row for a request. The warm path (pinned, unblocked, fresh) touches no
	 * store at all; otherwise candidates are ordered (ranked when the provider has a strategy), tried
	 * in turn (refreshing as needed) and the first usable one is pinned to the session.
	 */
	async resolveOAuth(
		provider: string,
		sessionId: string | undefined,
		options: SelectionOptions = {},
	): Promise<OAuthSelection | undefined> {
		const rows = this.#o.pool.rows(provider, "oauth");
		if (rows.length === 0) return undefined;
		const providerKey = providerTypeKey(provider, "oauth");
		const strategy = this.#o.registry.get(provider)?.ranking;
		const scope = strategy?.blockScope?.({ modelId: options.modelId }) ?? "";
		const pinned = await this.#pinned(provider, "oauth", sessionId);
		const pinnedAvailable = pinned !== undefined && !this.#o.blocks.isBlocked(pinned.id, providerKey, scope);

		if (pinnedAvailable && !options.forceRefresh && this.#o.refresher.isFresh(pinned.credential as OAuthCredential)) {
			const warm = await this.#handOut(provider, sessionId, pinned, options);
			if (warm) return warm;
		}

		let candidates: readonly StoredAuthCredential[];
		if (strategy && rows.length > 1 && !pinnedAvailable) {
			candidates = await this.#rank(provider, rows, providerKey, scope, strategy, sessionId, options);
		} else {
			candidates = this.#order(rows, providerKey, sessionId);
		}
		if (pinnedAvailable) candidates = [pinned, ...candidates.filter((row) => row.id !== pinned.id)];

		const forceId = options.forceRefresh ? (pinned?.id ?? candidates[0]?.id) : undefined;
		let fallback: { id: number; until: number } | undefined;
		for (const candidate of candidates) {
			const row = this.#o.pool.get(candidate.id);
			if (row?.credential.type !== "oauth") continue;
			const until = this.#o.blocks.blockedUntil(row.id, providerKey, scope);
			if (until !== undefined) {
				if (!fallback || until < fallback.until) fallback = { id: row.id, until };
				continue;
			}
			const selected = await this.#tryRow(provider, sessionId, row, options, row.id === forceId);
			if (selected) return selected;
		}
		if (fallback) {
			const row = this.#o.pool.get(fallback.id);
			if (row) return this.#tryRow(provider, sessionId, row, options, row.id === forceId);
		}
		return undefined;
	}

	/**
	 * Refresh one specific OAuth row if needed (no selection, no pin). Used by per-account access
	 * (`getOAuthAccesses`, reset credits, health).
	 */
	async freshRow(row: StoredAuthCredential, options: SelectionOptions = {}): Promise<StoredAuthCredential> {
		if (row.credential.type !== "oauth") return row;
		if (!options.forceRefresh && this.#o.refresher.isFresh(row.credential)) return row;
		return this.#o.refresher.ensureFresh(row, {
			force: options.forceRefresh === true,
			signal: options.signal,
			...(options.forceRefresh && options.rejectedKey !== undefined
				? {
						rejected: (credential: OAuthCredential) =>
							this.apiKeyOf(Object.assign({}, row, { credential })) === options.rejectedKey,
					}
				: {}),
		});
	}

	async #tryRow(
		provider: string,
		sessionId: string | undefined,
		row: StoredAuthCredential,
		options: SelectionOptions,
		force: boolean,
	): Promise<OAuthSelection | undefined> {
		let fresh: StoredAuthCredential;
		try {
			fresh = await this.freshRow(row, Object.assign({}, options, { forceRefresh: force }));
		} catch (error) {
			if (isCallerAbort(error, options.signal)) throw error;
			this.#o.logger.warn("oauth credential unavailable", {
				provider,
				id: row.id,
				definitive: isDefinitiveRefreshFailure(error),
				error: redactString(errorMessage(error)),
			});
			return undefined;
		}
		return this.#handOut(provider, sessionId, fresh, options);
	}

	/** Last step before a token leaves: the store's upstream `prepareForRequest`, then pin + hand out. */
	async #handOut(
		provider: string,
		sessionId: string | undefined,
		row: StoredAuthCredential,
		options: SelectionOptions,
	): Promise<OAuthSelection | undefined> {
		let current = row;
		const prepare = this.#o.store.upstream?.prepareForRequest;
		if (prepare) {
			const moved = await prepare.call(this.#o.store.upstream, row.id, { signal: options.signal });
			if (moved) {
				await this.#o.pool.sync();
				const latest = this.#o.pool.get(row.id);
				if (latest?.credential.type !== "oauth") return undefined;
				current = latest.version >= row.version ? latest : row;
				if (!this.#o.refresher.isFresh(current.credential as OAuthCredential)) {
					try {
						current = await this.#o.refresher.ensureFresh(current, { signal: options.signal });
					} catch (error) {
						if (isCallerAbort(error, options.signal)) throw error;
						return undefined;
					}
				}
			}
		}
		if (current.credential.type !== "oauth") return undefined;
		this.#lastUsed.set(providerTypeKey(provider, "oauth"), current.id);
		await this.#o.affinity.set(provider, sessionId, { type: "oauth", credentialId: current.id });
		return { row: current, credential: current.credential, apiKey: this.apiKeyOf(current) };
	}

	async #rank(
		provider: string,
		rows: readonly StoredAuthCredential[],
		providerKey: string,
		scope: string,
		strategy: CredentialRankingStrategy,
		sessionId: string | undefined,
		options: SelectionOptions,
	): Promise<StoredAuthCredential[]> {
		const { blocks, clock } = this.#o;
		// Sessions rank in id order (their draw is hash-based); sessionless calls keep round-robin order
		// so equal rows still take turns.
		const order = sessionId ? [...rows] : this.#order(rows, providerKey, undefined);
		let reports: Map<number, UsageReport | null>;
		try {
			reports = await this.#o.usage().getReportsForRanking(order, { baseUrl: options.baseUrl, signal: options.signal });
		} catch (error) {
			if (isCallerAbort(error, options.signal)) throw error;
			this.#o.logger.debug("usage ranking unavailable", { provider, error: redactString(errorMessage(error)) });
			reports = new Map();
		}
		const now = clock.now();
		const inputs: RankCandidate[] = [];
		for (const row of order) {
			const report = reports.get(row.id) ?? null;
			let blockedUntil = blocks.blockedUntil(row.id, providerKey, scope);
			if (report) {
				const exhausted = exhaustedUntil(report, strategy, {
					now,
					modelId: options.modelId,
					defaultBlockMs: DEFAULT_BLOCK_MS,
				});
				if (exhausted !== undefined) {
					if (blockedUntil === undefined || exhausted > blockedUntil) {
						blockedUntil = await blocks.block(row.id, providerKey, exhausted, { scope, kind: "usage" });
					}
				} else if (blockedUntil !== undefined && (await blocks.heal(row.id, providerKey, scope, report.fetchedAt))) {
					blockedUntil = blocks.blockedUntil(row.id, providerKey, scope);
				}
			}
			inputs.push(blockedUntil === undefined ? { row, report } : { row, report, blockedUntil });
		}
		const ranked = rankCandidates(inputs, strategy, { now, modelId: options.modelId });
		const ordered = sessionId ? drawForSession(ranked, sessionId) : ranked;
		return ordered.map((candidate) => candidate.row);
	}
}
