/**
 * Which row serves a request (docs/selection.md "Selection"): eligible candidates of one type in
 * priority order (then stable id order), the provider's mode (`balanced`: a session's hash start index
 * then its pin, round-robin without a session, usage ranking with reserve and near-tie spreading for
 * sessions without an available pin, reclaim back to a higher priority; `fixed`: the first available
 * in priority order), explicit pins, blocked rows skipped (all blocked → the first to unblock), and
 * the OAuth freshness ladder. Rows are addressed by id throughout; no per-call copies of the row set.
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
import { LruMap } from "../util/lru";
import { redactString } from "../util/redact";
import type { SessionAffinity, SessionPin } from "./affinity";
import { type CredentialBlocks, DEFAULT_BLOCK_MS, providerTypeKey } from "./blocks";
import { type AccountPolicies, NEAR_TIE_HEADROOM_PCT } from "./policy";
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
	policies: AccountPolicies;
}

/**
 * The eligible rows of one provider, type and model in priority order, with their ranks and tier
 * boundaries. Rebuilt only when the pool hands out another row array or the priority changes.
 */
export interface CandidateView {
	source: readonly StoredAuthCredential[];
	priorityVersion: number;
	/** Eligible rows: ranked ones by rank, then unlisted ones by id. */
	rows: readonly StoredAuthCredential[];
	ranks: ReadonlyMap<number, number>;
	/** Index where each priority tier starts, plus `rows.length` at the end. */
	tiers: readonly number[];
	/** Lowest rank present (`Infinity` when no row is ranked). */
	best: number;
	/** Why rows were ineligible (deduplicated, no secrets). */
	reasons: readonly string[];
}

/** Longest a cached ranking is reused without any change (drain rates move with time). */
export const RANK_TTL_MS = 30_000;

interface RankingEntry {
	ranked: readonly RankedCandidate[];
	ties: number;
	view: CandidateView;
	blocksVersion: number;
	usageVersion: number;
	reserve: number;
	validUntil: number;
}

/** Headroom (percent of the tightest ranking window left) from a report; `undefined` when unmeasured. */
export function headroomPct(
	report: UsageReport | null | undefined,
	strategy: CredentialRankingStrategy | undefined,
	modelId: string | undefined,
): number | undefined {
	if (!report) return undefined;
	const windows = strategy ? strategy.findWindowLimits(report, { modelId }) : {};
	let used: number | undefined;
	for (const limit of strategy ? [windows.primary, windows.secondary] : report.limits) {
		const fraction = limit?.amount.usedFraction;
		if (typeof fraction !== "number" || !Number.isFinite(fraction)) continue;
		const clamped = Math.min(1, Math.max(0, fraction));
		if (used === undefined || clamped > used) used = clamped;
	}
	return used === undefined ? undefined : Math.round((1 - used) * 10_000) / 100;
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
	readonly #views = new LruMap<string, CandidateView>(1024);
	readonly #rankings = new LruMap<string, RankingEntry>(1024);

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

	/** Can this row serve a request for `modelId` (the plugin's `eligible`)? */
	isEligible(row: StoredAuthCredential, modelId: string | undefined): boolean {
		const eligible = this.#o.registry.get(row.provider)?.eligible;
		if (!eligible) return true;
		return this.#eligibility(eligible, row, modelId) === true;
	}

	#eligibility(
		eligible: NonNullable<ReturnType<ProviderRegistry["get"]>>["eligible"] & {},
		row: StoredAuthCredential,
		modelId: string | undefined,
	): true | string {
		try {
			const verdict = eligible(row.credential, modelId === undefined ? {} : { modelId });
			if (verdict === true) return true;
			return typeof verdict === "string" && verdict !== "" ? redactString(verdict).slice(0, 200) : "not eligible";
		} catch (error) {
			this.#o.logger.warn("eligibility check failed", {
				provider: row.provider,
				id: row.id,
				error: redactString(errorMessage(error)),
			});
			return "eligibility check failed";
		}
	}

	/** The candidate view of `provider:type` for `modelId` (cached; O(1) while nothing changed). */
	view(provider: string, type: CredentialType, modelId: string | undefined): CandidateView {
		const source = this.#o.pool.rows(provider, type);
		const priorityVersion = this.#o.policies.priorityVersion(provider);
		const eligible = this.#o.registry.get(provider)?.eligible;
		const key = eligible ? `${provider}\0${type}\0${modelId ?? ""}` : `${provider}\0${type}`;
		const cached = this.#views.get(key);
		if (cached && cached.source === source && cached.priorityVersion === priorityVersion) return cached;
		let rows = source;
		const reasons: string[] = [];
		if (eligible) {
			const kept: StoredAuthCredential[] = [];
			for (const row of source) {
				const verdict = this.#eligibility(eligible, row, modelId);
				if (verdict === true) kept.push(row);
				else if (!reasons.includes(verdict) && reasons.length < 8) reasons.push(verdict);
			}
			if (kept.length !== source.length) rows = kept;
		}
		const resolved = this.#o.policies.resolve(provider, key, rows);
		const tiers: number[] = [0];
		const ordered = resolved.ordered;
		for (let i = 1; i < ordered.length; i += 1) {
			if (resolved.ranks.get(ordered[i]!.id) !== resolved.ranks.get(ordered[i - 1]!.id)) tiers.push(i);
		}
		tiers.push(ordered.length);
		const view: CandidateView = {
			source,
			priorityVersion,
			rows: ordered,
			ranks: resolved.ranks,
			tiers,
			best: resolved.best,
			reasons,
		};
		this.#views.set(key, view);
		return view;
	}

	#rank(view: CandidateView, id: number): number {
		return view.ranks.get(id) ?? Number.POSITIVE_INFINITY;
	}

	#nextRoundRobin(providerKey: string, total: number): number {
		if (total <= 1) return 0;
		const next = ((this.#roundRobin.get(providerKey) ?? -1) + 1) % total;
		this.#roundRobin.set(providerKey, next);
		return next;
	}

	/**
	 * Unblocked rows in try order, lazily (the common case stops at the first): `fixed` walks the
	 * priority order; `balanced` walks tier by tier, each tier from the session's hash start index or the
	 * round-robin position. Calls `onBlocked` for each blocked row passed over.
	 */
	*#order(
		view: CandidateView,
		providerKey: string,
		scope: string,
		fixed: boolean,
		sessionId: string | undefined,
		onBlocked: (row: StoredAuthCredential, until: number) => void,
	): Generator<StoredAuthCredential> {
		const { rows, tiers } = view;
		const blocks = this.#o.blocks;
		if (fixed) {
			for (let i = 0; i < rows.length; i += 1) {
				const row = rows[i]!;
				const until = blocks.blockedUntil(row.id, providerKey, scope);
				if (until === undefined) yield row;
				else onBlocked(row, until);
			}
			return;
		}
		const hash = sessionId ? xxHash32(sessionId) : 0;
		for (let t = 0; t + 1 < tiers.length; t += 1) {
			const begin = tiers[t]!;
			const size = tiers[t + 1]! - begin;
			const start = size <= 1 ? 0 : sessionId ? hash % size : this.#nextRoundRobin(`${providerKey}\0${t}`, size);
			for (let j = 0; j < size; j += 1) {
				const row = rows[begin + ((start + j) % size)]!;
				const until = blocks.blockedUntil(row.id, providerKey, scope);
				if (until === undefined) yield row;
				else onBlocked(row, until);
			}
		}
	}

	/** The session's pin of `type` if its row is still loaded; a pin to a gone row is dropped. */
	async #pinned(
		provider: string,
		type: CredentialType,
		sessionId: string | undefined,
	): Promise<{ pin: SessionPin; row: StoredAuthCredential } | undefined> {
		if (!sessionId) return undefined;
		const pin = await this.#o.affinity.get(provider, sessionId);
		if (!pin || pin.type !== type) return undefined;
		const row = this.#o.pool.get(pin.credentialId);
		if (row && row.provider === provider && row.credential.type === type) return { pin, row };
		this.#o.affinity.drop(provider, sessionId, { force: true });
		return undefined;
	}

	/**
	 * Memory-only guess of the row a request would use (no refresh, no round-robin advance, no
	 * writes): the session's pin if usable, else the first unblocked row in priority order, else the first row.
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
		const view = this.view(provider, type, undefined);
		return view.rows.find((row) => !this.#o.blocks.isBlocked(row.id, providerKey)) ?? view.rows[0] ?? rows[0];
	}

	/**
	 * `NO_ELIGIBLE_CREDENTIAL` when the provider has stored rows but none can serve `modelId`;
	 * `undefined` otherwise.
	 */
	ineligibleError(provider: string, modelId: string | undefined): AuthpoolError | undefined {
		if (!this.#o.registry.get(provider)?.eligible) return undefined;
		let stored = 0;
		const reasons: string[] = [];
		for (const type of ["oauth", "api_key"] as const) {
			const view = this.view(provider, type, modelId);
			if (view.rows.length > 0) return undefined;
			stored += view.source.length;
			for (const reason of view.reasons) if (!reasons.includes(reason)) reasons.push(reason);
		}
		if (stored === 0) return undefined;
		const what = modelId === undefined ? "this request" : `model ${modelId}`;
		return new AuthpoolError(
			"NO_ELIGIBLE_CREDENTIAL",
			`No ${provider} credential can serve ${what}: ${reasons.join("; ") || "not eligible"} (${stored} stored)`,
			{ details: { provider, ...(modelId === undefined ? {} : { modelId }), reasons, stored } },
		);
	}

	/**
	 * Pick a stored API key row (explicit pin, the mode's order, skipping blocked and ineligible rows).
	 * Model-scoped blocks (the strategy's `blockScope` for `options.modelId`) apply as they do to OAuth
	 * rows. API keys are never usage-probed.
	 */
	async selectApiKey(
		provider: string,
		sessionId?: string,
		options: Pick<SelectionOptions, "modelId"> = {},
	): Promise<StoredAuthCredential | undefined> {
		const view = this.view(provider, "api_key", options.modelId);
		if (view.rows.length === 0) return undefined;
		const providerKey = providerTypeKey(provider, "api_key");
		const scope = this.#o.registry.get(provider)?.ranking?.blockScope?.({ modelId: options.modelId }) ?? "";
		const fixed = this.#o.policies.mode(provider) === "fixed";
		const pinned = await this.#pinned(provider, "api_key", sessionId);
		let chosen: StoredAuthCredential | undefined;
		if (pinned && this.isEligible(pinned.row, options.modelId)) {
			const blocked = this.#o.blocks.isBlocked(pinned.row.id, providerKey, scope);
			if (!blocked && (pinned.pin.explicit || !fixed)) chosen = pinned.row;
			else if (blocked && pinned.pin.explicit && fixed) chosen = pinned.row; // fixed mode waits for its pin
		}
		if (!chosen) {
			let fallback: { row: StoredAuthCredential; until: number } | undefined;
			const onBlocked = (row: StoredAuthCredential, until: number) => {
				if (!fallback || until < fallback.until) fallback = { row, until };
			};
			for (const row of this.#order(view, providerKey, scope, fixed, sessionId, onBlocked)) {
				chosen = row;
				break;
			}
			chosen ??= fallback?.row;
		}
		if (!chosen) return undefined;
		this.#lastUsed.set(providerKey, chosen.id);
		this.#o.affinity.set(provider, sessionId, { type: "api_key", credentialId: chosen.id });
		return chosen;
	}

	/**
	 * The next stored API key after the session's current one (in the mode's order, skipping blocked and
	 * ineligible rows); the session is pinned to it. `undefined` with fewer than two usable keys.
	 */
	async cycleApiKey(
		provider: string,
		sessionId: string,
		options: Pick<SelectionOptions, "modelId"> = {},
	): Promise<StoredAuthCredential | undefined> {
		const view = this.view(provider, "api_key", options.modelId);
		if (view.rows.length < 2) return undefined;
		const providerKey = providerTypeKey(provider, "api_key");
		const scope = this.#o.registry.get(provider)?.ranking?.blockScope?.({ modelId: options.modelId }) ?? "";
		const current =
			(await this.#pinned(provider, "api_key", sessionId))?.row ??
			(await this.selectApiKey(provider, sessionId, options));
		const at = current ? view.rows.findIndex((row) => row.id === current.id) : -1;
		for (let step = 1; step < view.rows.length; step += 1) {
			const row = view.rows[(at + step + view.rows.length) % view.rows.length]!;
			if (row.id === current?.id || this.#o.blocks.isBlocked(row.id, providerKey, scope)) continue;
			await this.#o.affinity.unpin(provider, sessionId).catch(() => false);
			this.#o.affinity.set(provider, sessionId, { type: "api_key", credentialId: row.id });
			this.#lastUsed.set(providerKey, row.id);
			return row;
		}
		return undefined;
	}

	/** Would a reclaim move this session off `row` (a higher-priority account exists and reclaim is on)? */
	#reclaimPossible(
		provider: string,
		view: CandidateView,
		row: StoredAuthCredential,
		pin: SessionPin | undefined,
	): boolean {
		if (pin?.explicit) return false;
		if (this.#o.policies.reclaimAbovePct(provider) === undefined) return false;
		return view.best < this.#rank(view, row.id);
	}

	/**
	 * The hot path, synchronously and from memory only: the session's pinned row (or, in `fixed` mode,
	 * the first available row in priority order; or, without a session and without usage ranking, the
	 * next round-robin row) when it is eligible, unblocked and fresh, no upstream hook must be consulted,
	 * no refresh is forced and no reclaim is due. `undefined` sends the caller down `resolveOAuth`, which
	 * reaches the same answer the long way (so this is purely a shortcut, never a different policy).
	 */
	warmOAuth(provider: string, sessionId: string | undefined, options: SelectionOptions): OAuthSelection | undefined {
		if (options.forceRefresh || this.#o.store.upstream?.prepareForRequest) return undefined;
		const view = this.view(provider, "oauth", options.modelId);
		if (view.rows.length === 0) return undefined;
		const providerKey = providerTypeKey(provider, "oauth");
		const strategy = this.#o.registry.get(provider)?.ranking;
		const scope = strategy?.blockScope?.({ modelId: options.modelId }) ?? "";
		const fixed = this.#o.policies.mode(provider) === "fixed";
		let row: StoredAuthCredential | undefined;
		let roundRobin: { key: string; value: number } | undefined;
		const pin = sessionId ? this.#o.affinity.cached(provider, sessionId) : undefined;
		if (pin?.explicit) {
			if (pin.type !== "oauth") return undefined;
			row = this.#o.pool.get(pin.credentialId);
			if (row?.provider !== provider || !this.isEligible(row, options.modelId)) return undefined;
		} else if (fixed) {
			const rows = view.rows;
			for (let i = 0; i < rows.length && row === undefined; i += 1) {
				if (!this.#o.blocks.isBlocked(rows[i]!.id, providerKey, scope)) row = rows[i];
			}
			if (!row) return undefined;
		} else if (sessionId) {
			if (pin?.type !== "oauth") return undefined;
			row = this.#o.pool.get(pin.credentialId);
			if (row?.provider !== provider || !this.isEligible(row, options.modelId)) return undefined;
			if (this.#reclaimPossible(provider, view, row, pin)) return undefined;
		} else {
			if (strategy && view.rows.length > 1) return undefined;
			// The first tier's next round-robin position; committed only if the shortcut succeeds.
			const size = view.tiers[1]!;
			const key = `${providerKey}\0${0}`;
			const value = size <= 1 ? 0 : ((this.#roundRobin.get(key) ?? -1) + 1) % size;
			row = view.rows[value];
			roundRobin = { key, value };
		}
		if (row?.credential.type !== "oauth") return undefined;
		if (this.#o.blocks.isBlocked(row.id, providerKey, scope) || !this.#o.refresher.isFresh(row.credential)) {
			return undefined;
		}
		if (roundRobin && view.tiers[1]! > 1) this.#roundRobin.set(roundRobin.key, roundRobin.value);
		this.#lastUsed.set(providerKey, row.id);
		if (fixed && sessionId && !pin?.explicit)
			this.#o.affinity.set(provider, sessionId, { type: "oauth", credentialId: row.id });
		return { row, credential: row.credential, apiKey: this.apiKeyOf(row) };
	}

	/**
	 * Resolve a fresh OAuth row for a request. The warm path (pinned, unblocked, fresh) touches no
	 * store at all; otherwise candidates are ordered by the provider's mode (ranked when balanced with a
	 * strategy), tried in turn (refreshing as needed) and the first usable one is pinned to the session.
	 */
	async resolveOAuth(
		provider: string,
		sessionId: string | undefined,
		options: SelectionOptions = {},
	): Promise<OAuthSelection | undefined> {
		const view = this.view(provider, "oauth", options.modelId);
		if (view.rows.length === 0) return undefined;
		const providerKey = providerTypeKey(provider, "oauth");
		const strategy = this.#o.registry.get(provider)?.ranking;
		const scope = strategy?.blockScope?.({ modelId: options.modelId }) ?? "";
		const fixed = this.#o.policies.mode(provider) === "fixed";
		const found = await this.#pinned(provider, "oauth", sessionId);
		const pinned = found && this.isEligible(found.row, options.modelId) ? found : undefined;
		const pinnedBlocked = pinned !== undefined && this.#o.blocks.isBlocked(pinned.row.id, providerKey, scope);
		// An explicit pin wins while available; blocked, it waits (fixed) or fails over (balanced).
		// An automatic pin counts only in balanced mode (fixed always takes the first available).
		const stick = pinned !== undefined && (pinned.pin.explicit ? !pinnedBlocked || fixed : !fixed && !pinnedBlocked);
		let lead: StoredAuthCredential | undefined = stick ? pinned.row : undefined;

		if (lead && !pinned?.pin.explicit && sessionId && this.#reclaimPossible(provider, view, lead, pinned?.pin)) {
			lead = (await this.#reclaimTarget(provider, view, lead, providerKey, scope, options)) ?? lead;
		}

		if (lead && !options.forceRefresh && this.#o.refresher.isFresh(lead.credential as OAuthCredential)) {
			const warm = await this.#handOut(provider, sessionId, lead, options);
			if (warm) return warm;
		}

		// A forced refresh applies to the session's row, else to the first row tried.
		let forceId = options.forceRefresh ? (pinned?.row.id ?? lead?.id) : undefined;
		const tried = new Set<number>();
		const attempt = async (row: StoredAuthCredential): Promise<OAuthSelection | undefined> => {
			if (tried.has(row.id)) return undefined;
			tried.add(row.id);
			const current = this.#o.pool.get(row.id);
			if (current?.credential.type !== "oauth") return undefined;
			if (options.forceRefresh && forceId === undefined) forceId = current.id;
			return this.#tryRow(provider, sessionId, current, options, current.id === forceId);
		};
		if (lead) {
			const selected = await attempt(lead);
			if (selected) return selected;
		}

		let fallback: { row: StoredAuthCredential; until: number } | undefined;
		const onBlocked = (row: StoredAuthCredential, until: number) => {
			if (!fallback || until < fallback.until) fallback = { row, until };
		};
		if (!fixed && strategy && view.rows.length > 1) {
			const { ranked, ties } = await this.#ranked(provider, view, providerKey, scope, strategy, options);
			// Near-ties of the best group share fresh sessions by hash (session-less calls take turns).
			const pick =
				ties <= 1 ? 0 : sessionId ? xxHash32(sessionId) % ties : this.#nextRoundRobin(`${providerKey}\0ranked`, ties);
			for (let i = -1; i < ranked.length; i += 1) {
				if (i === pick) continue;
				const candidate = ranked[i < 0 ? pick : i]!;
				const until = this.#o.blocks.blockedUntil(candidate.row.id, providerKey, scope);
				if (until !== undefined) {
					onBlocked(candidate.row, until);
					continue;
				}
				const selected = await attempt(candidate.row);
				if (selected) return selected;
			}
		} else {
			for (const row of this.#order(view, providerKey, scope, fixed, sessionId, onBlocked)) {
				const selected = await attempt(row);
				if (selected) return selected;
			}
		}
		if (fallback && !tried.has(fallback.row.id)) return attempt(fallback.row);
		return undefined;
	}

	/**
	 * The highest-priority eligible, unblocked account above the session's whose measured headroom is at
	 * or above the reclaim line; `undefined` when none (then the session stays).
	 */
	async #reclaimTarget(
		provider: string,
		view: CandidateView,
		current: StoredAuthCredential,
		providerKey: string,
		scope: string,
		options: SelectionOptions,
	): Promise<StoredAuthCredential | undefined> {
		const line = this.#o.policies.reclaimAbovePct(provider);
		if (line === undefined) return undefined;
		const currentRank = this.#rank(view, current.id);
		const higher: StoredAuthCredential[] = [];
		for (const row of view.rows) {
			if (this.#rank(view, row.id) >= currentRank) break;
			if (!this.#o.blocks.isBlocked(row.id, providerKey, scope)) higher.push(row);
		}
		if (higher.length === 0) return undefined;
		let reports: Map<number, UsageReport | null>;
		try {
			reports = await this.#o
				.usage()
				.getReportsForRanking(higher, { baseUrl: options.baseUrl, signal: options.signal });
		} catch (error) {
			if (isCallerAbort(error, options.signal)) throw error;
			return undefined;
		}
		const strategy = this.#o.registry.get(provider)?.ranking;
		for (const row of higher) {
			const headroom = headroomPct(reports.get(row.id), strategy, options.modelId);
			if (headroom !== undefined && headroom >= line) return row;
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
		this.#o.affinity.set(provider, sessionId, { type: "oauth", credentialId: current.id });
		return { row: current, credential: current.credential, apiKey: this.apiKeyOf(current) };
	}

	/**
	 * Balanced ranking: usage order (the provider's strategy), then reserve (an account below the reserve
	 * line only when every sibling is too) and strict priority ahead of it; `ties` is the size of the best
	 * group's near-ties (headroom within `NEAR_TIE_HEADROOM_PCT`), which the caller spreads by session.
	 *
	 * Incremental: the result is kept until the row set, the priority, a block, an in-memory usage report or
	 * the reserve changes, a block it saw lifts by time, or `RANK_TTL_MS` passes (drain rates move with time
	 * and stale reports must be refetched). A warm ranked call is then O(1) in the number of rows.
	 */
	async #ranked(
		provider: string,
		view: CandidateView,
		providerKey: string,
		scope: string,
		strategy: CredentialRankingStrategy,
		options: SelectionOptions,
	): Promise<{ ranked: readonly RankedCandidate[]; ties: number }> {
		const usage = this.#o.usage();
		const reserve = this.#o.policies.reservePct(provider);
		const now = this.#o.clock.now();
		const key = `${providerKey}\0${scope}\0${options.modelId ?? ""}\0${options.baseUrl ?? ""}`;
		const cached = this.#rankings.get(key);
		if (
			cached &&
			cached.view === view &&
			cached.blocksVersion === this.#o.blocks.version &&
			cached.usageVersion === usage.version &&
			cached.reserve === reserve &&
			now < cached.validUntil
		) {
			return cached;
		}
		const { blocks } = this.#o;
		const rows = view.rows;
		let reports: Map<number, UsageReport | null>;
		try {
			reports = await usage.getReportsForRanking(rows as StoredAuthCredential[], {
				baseUrl: options.baseUrl,
				signal: options.signal,
			});
		} catch (error) {
			if (isCallerAbort(error, options.signal)) throw error;
			this.#o.logger.debug("usage ranking unavailable", { provider, error: redactString(errorMessage(error)) });
			reports = new Map();
		}
		const inputs: RankCandidate[] = [];
		for (const row of rows) {
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
		const meta = new Map<number, { headroom: number | undefined; reserved: boolean; rank: number }>();
		let validUntil = now + RANK_TTL_MS;
		for (const candidate of ranked) {
			const headroom = headroomPct(candidate.report, strategy, options.modelId);
			meta.set(candidate.row.id, {
				headroom,
				reserved: reserve > 0 && headroom !== undefined && headroom < reserve,
				rank: this.#rank(view, candidate.row.id),
			});
			if (candidate.blocked && candidate.blockedUntil !== undefined && candidate.blockedUntil < validUntil) {
				validUntil = candidate.blockedUntil;
			}
		}
		const m = (c: RankedCandidate) => meta.get(c.row.id)!;
		// Stable: within a class the usage order stands.
		ranked.sort((a, b) => {
			if (a.blocked !== b.blocked) return a.blocked ? 1 : -1;
			if (a.blocked) return 0;
			const ma = m(a);
			const mb = m(b);
			if (ma.reserved !== mb.reserved) return ma.reserved ? 1 : -1;
			return ma.rank === mb.rank ? 0 : ma.rank < mb.rank ? -1 : 1;
		});
		let ties = 0;
		const top = ranked[0];
		if (top && !top.blocked) {
			const tm = m(top);
			ties = 1;
			while (ties < ranked.length) {
				const next = ranked[ties]!;
				const nm = m(next);
				if (next.blocked || nm.reserved !== tm.reserved || nm.rank !== tm.rank) break;
				if (next.planPriority !== top.planPriority || next.hasPriorityBoost !== top.hasPriorityBoost) break;
				const tie =
					tm.headroom === undefined
						? nm.headroom === undefined
						: nm.headroom !== undefined && Math.abs(nm.headroom - tm.headroom) <= NEAR_TIE_HEADROOM_PCT;
				if (!tie) break;
				ties += 1;
			}
		}
		const entry: RankingEntry = {
			ranked,
			ties,
			view,
			blocksVersion: blocks.version,
			usageVersion: usage.version,
			reserve,
			validUntil,
		};
		this.#rankings.set(key, entry);
		return entry;
	}
}
