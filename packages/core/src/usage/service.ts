/**
 * UsageService: per-credential usage reports with a two-level cache (in-memory L1 over the store's
 * cache as L2, shared across processes), coalesced fetches, failure cool-down with last good value,
 * header ingestion, history and costs (docs/provider-plugins.md "Usage model").
 */
import { z } from "zod";
import { AbortedError, AuthpoolError } from "../errors";
import type { ProviderRegistry } from "../plugin";
import { oauthIdentity, usageAccountKey } from "../pool/identity";
import type { AuthCredentialStore } from "../store/store";
import type { AuthCredential, Clock, Env, FetchLike, Logger, StoredAuthCredential } from "../types";
import { raceSignal, withTimeout } from "../util/abort";
import { sha256Hex } from "../util/hash";
import { LruMap } from "../util/lru";
import { credentialSecrets, redact } from "../util/redact";
import { isRecord, resolveUsedFraction } from "./report";
import type {
	UsageCostHistoryEntry,
	UsageCostHistoryQuery,
	UsageCredential,
	UsageFetchContext,
	UsageFetchParams,
	UsageHistoryEntry,
	UsageHistoryQuery,
	UsageLimit,
	UsageProvider,
	UsageReport,
} from "./types";

export interface UsageServiceOptions {
	store: AuthCredentialStore;
	registry: ProviderRegistry;
	fetch: FetchLike;
	clock: Clock;
	logger: Logger;
	env: Env;
	/** [0,1) source for cache-lifetime jitter. */
	random: () => number;
	/** Per-request bound. @default 10_000 */
	requestTimeoutMs?: number;
	/** Fresh lifetime of a report, ±25 % jitter. @default 300_000 */
	freshMs?: number;
	/** How long the last good report is kept for fallback. @default 86_400_000 */
	lastGoodMs?: number;
	/** After a failed fetch, no new fetch for this long; the last good value is served. @default 10_000 */
	failureCooldownMs?: number;
	/** Header-derived reports are taken at most once per this interval per account. @default 60_000 */
	headerIngestIntervalMs?: number;
	/** Max entries of the in-memory L1 (LRU). @default 10_000 */
	maxMemoryEntries?: number;
	/** Injectable sleep for plugins' retry backoff. */
	retryWait?: (delayMs: number, signal?: AbortSignal) => Promise<void>;
}

export interface UsageLookupOptions {
	baseUrl?: string;
	signal?: AbortSignal;
	/** Bypass the fresh cache (still coalesced). */
	forceRefresh?: boolean;
	/**
	 * Serve the last good report when the fetch fails or is cooling down. `false` answers `null`
	 * instead (a health probe must not pass on yesterday's report). @default true
	 */
	lastGoodFallback?: boolean;
}

const HOUR_MS = 3_600_000;
const CACHE_PREFIX = "usage:report:";
/** Providers whose accounts are told apart by login email (one account id spans a team workspace). */
const EMAIL_IDENTITY_PROVIDERS = new Set(["anthropic", "openai-codex"]);

const positiveMs = z.number().finite().positive();
const optionsSchema = z.object({
	requestTimeoutMs: positiveMs.optional(),
	freshMs: positiveMs.optional(),
	lastGoodMs: positiveMs.optional(),
	failureCooldownMs: z.number().finite().nonnegative().optional(),
	headerIngestIntervalMs: z.number().finite().nonnegative().optional(),
	maxMemoryEntries: z.number().int().positive().optional(),
});

/** What a shared fetch settles to: the report to serve, and whether it was fetched just now. */
interface FlightResult {
	report: UsageReport | null;
	fetched: boolean;
}

interface CacheEntry {
	report: UsageReport;
	fetchedAt: number;
	freshUntil: number;
}

/** What one lookup resolves against: the cache key and the plugin's view of the credential. */
interface Target {
	key: string;
	row: StoredAuthCredential;
	accountKey: string;
	credential: UsageCredential;
	baseUrl?: string;
	usage?: UsageProvider;
}

function str(value: unknown): string | undefined {
	return typeof value === "string" && value.trim() !== "" ? value.trim() : undefined;
}

/** The credential as a usage plugin sees it. */
function toUsageCredential(row: StoredAuthCredential): UsageCredential {
	const credential = row.credential;
	if (credential.type === "api_key") return { type: "api_key", apiKey: credential.key };
	const out: UsageCredential = {
		type: "oauth",
		accessToken: credential.access,
		refreshToken: credential.refresh,
		expiresAt: credential.expires,
	};
	if (credential.accountId !== undefined) out.accountId = credential.accountId;
	if (credential.projectId !== undefined) out.projectId = credential.projectId;
	if (credential.email !== undefined) out.email = credential.email;
	if (credential.enterpriseUrl !== undefined) out.enterpriseUrl = credential.enterpriseUrl;
	if (credential.apiEndpoint !== undefined) out.apiEndpoint = credential.apiEndpoint;
	return out;
}

function isUsageReport(value: unknown): value is UsageReport {
	return isRecord(value) && typeof value.provider === "string" && Array.isArray(value.limits);
}

/** For debug logs: plugin errors may quote a token, so token-shaped text is masked. */
/** A loggable error description: token-shaped strings and the row's own secrets scrubbed. */
function describeError(error: unknown, credential?: AuthCredential): string {
	const secrets = credential ? credentialSecrets(credential) : [];
	if (AuthpoolError.isInstance(error)) return `${error.code}: ${redact(error.message, secrets)}`;
	return error instanceof Error ? `${error.name}: ${redact(error.message, secrets)}` : typeof error;
}

/** Keep the richest report of a group, add limits the others know, fill missing metadata. */
function mergeReports(reports: UsageReport[]): UsageReport {
	const sorted = [...reports].sort((a, b) => b.limits.length - a.limits.length || b.fetchedAt - a.fetchedAt);
	const base = sorted[0] as UsageReport;
	if (sorted.length === 1) return base;
	const limits = [...base.limits];
	const ids = new Set(limits.map((limit) => limit.id));
	const metadata: Record<string, unknown> = { ...(base.metadata ?? {}) };
	let fetchedAt = base.fetchedAt;
	for (const report of sorted.slice(1)) {
		fetchedAt = Math.max(fetchedAt, report.fetchedAt);
		for (const limit of report.limits) {
			if (ids.has(limit.id)) continue;
			ids.add(limit.id);
			limits.push(limit);
		}
		for (const [name, value] of Object.entries(report.metadata ?? {})) {
			if (metadata[name] === undefined) metadata[name] = value;
		}
	}
	const merged: UsageReport = { ...base, fetchedAt, limits };
	if (Object.keys(metadata).length > 0) merged.metadata = metadata;
	return merged;
}

/**
 * Replace limits of `prior` by id with those of `update`; append ids `prior` does not have. A replacement
 * keeps scope and window fields it does not carry itself (headers know no account id or window label).
 */
function mergeLimitsById(prior: UsageLimit[], update: UsageLimit[]): UsageLimit[] {
	const byId = new Map(update.map((limit) => [limit.id, limit]));
	const limits: UsageLimit[] = [];
	for (const limit of prior) {
		const replacement = byId.get(limit.id);
		if (replacement) {
			const window = limit.window || replacement.window ? { ...limit.window, ...replacement.window } : undefined;
			limits.push({
				...replacement,
				scope: { ...limit.scope, ...replacement.scope },
				...(window ? { window: window as NonNullable<UsageLimit["window"]> } : {}),
			});
			byId.delete(limit.id);
		} else {
			limits.push(limit);
		}
	}
	limits.push(...byId.values());
	return limits;
}

/**
 * Per-credential usage reports for one process. L1 is an in-memory LRU; L2 is `store.cache`, so
 * processes sharing a store share fetched reports and the last good value.
 */
export class UsageService {
	/** Overall wait for ranking: `max(5 s, 1.5 × requestTimeoutMs)`. */
	readonly rankingWaitMs: number;

	readonly #store: AuthCredentialStore;
	readonly #registry: ProviderRegistry;
	readonly #targets = new WeakMap<StoredAuthCredential, Map<string, Target>>();
	readonly #clock: Clock;
	readonly #logger: Logger;
	readonly #random: () => number;
	readonly #ctx: UsageFetchContext;
	readonly #requestTimeoutMs: number;
	readonly #freshMs: number;
	readonly #lastGoodMs: number;
	readonly #failureCooldownMs: number;
	readonly #headerIngestIntervalMs: number;

	readonly #memory: LruMap<string, CacheEntry>;
	readonly #inFlight = new Map<string, Promise<FlightResult>>();
	readonly #failedAt: LruMap<string, number>;
	readonly #headersAt: LruMap<string, number>;
	/** (provider, accountKey, limitId) → hour bucket last written to history by this process. */
	readonly #historyBuckets: LruMap<string, number>;
	#aggregateFlight: Promise<UsageReport[] | null> | undefined;

	/** @throws AuthpoolError `INVALID_OPTIONS` when a numeric option is not a valid duration/size. */
	constructor(options: UsageServiceOptions) {
		const parsed = optionsSchema.safeParse(options);
		if (!parsed.success) {
			const issues = parsed.error.issues.map((issue) => `${issue.path.join(".")}: ${issue.message}`).join("; ");
			throw new AuthpoolError("INVALID_OPTIONS", `Invalid UsageService options: ${issues}`);
		}
		this.#store = options.store;
		this.#registry = options.registry;
		this.#clock = options.clock;
		this.#logger = options.logger;
		this.#random = options.random;
		this.#requestTimeoutMs = options.requestTimeoutMs ?? 10_000;
		this.#freshMs = options.freshMs ?? 300_000;
		this.#lastGoodMs = options.lastGoodMs ?? 86_400_000;
		this.#failureCooldownMs = options.failureCooldownMs ?? 10_000;
		this.#headerIngestIntervalMs = options.headerIngestIntervalMs ?? 60_000;
		const maxEntries = options.maxMemoryEntries ?? 10_000;
		this.#memory = new LruMap(maxEntries);
		this.#failedAt = new LruMap(maxEntries);
		this.#headersAt = new LruMap(maxEntries);
		this.#historyBuckets = new LruMap(maxEntries);
		this.rankingWaitMs = Math.max(5_000, 1.5 * this.#requestTimeoutMs);
		const store = this.#store;
		this.#ctx = {
			fetch: options.fetch,
			clock: options.clock,
			logger: options.logger,
			env: options.env,
			listUsageCosts: async (query) => (store.ledger ? store.ledger.listUsageCosts(query) : []),
		};
		if (options.retryWait) this.#ctx.retryWait = options.retryWait;
	}

	/** The plugin's usage provider supports this row (and one is registered). */
	supports(row: StoredAuthCredential, baseUrl?: string): boolean {
		const target = this.#target(row, baseUrl);
		return target.usage !== undefined && this.#targetSupported(target);
	}

	/**
	 * A report for one row: fresh cache hit → it; else one coalesced fetch (bounded by
	 * `requestTimeoutMs`); on failure the last good report (≤ lastGoodMs old) or `null`.
	 * A store `upstream.getUsageReport` hook, when present, is used instead and its `null` is final.
	 * The caller's abort rejects only that caller. Records history (once per account+limit per hour).
	 *
	 * @throws AbortedError when `options.signal` aborts (the shared fetch keeps running).
	 */
	async getReport(row: StoredAuthCredential, options: UsageLookupOptions = {}): Promise<UsageReport | null> {
		const { signal, forceRefresh = false, lastGoodFallback = true } = options;
		const settle = (result: FlightResult) => (result.fetched || lastGoodFallback ? result.report : null);
		if (signal?.aborted) throw new AbortedError("usage lookup aborted by caller");
		const target = this.#target(row, options.baseUrl);
		const now = this.#clock.now();
		if (!forceRefresh) {
			const cached = this.#memory.get(target.key);
			if (cached && cached.freshUntil > now) return cached.report;
		}
		const joined = this.#inFlight.get(target.key);
		if (joined) return settle(await raceSignal(joined, signal, "usage lookup aborted by caller"));

		if (this.#store.upstream?.getUsageReport) {
			const flight = this.#startFlight(target, () => this.#fetchUpstream(target));
			return settle(await raceSignal(flight, signal, "usage lookup aborted by caller"));
		}
		if (!target.usage || !this.#targetSupported(target)) return null;
		// A forced lookup is a real probe (health check, limit hit): it must not be answered by the cool-down.
		if (!forceRefresh) {
			if (this.#coolingDown(target.key, now)) return lastGoodFallback ? this.#lastGood(target.key, now) : null;
			const shared = await raceSignal(this.#readShared(target.key, false), signal);
			if (shared && shared.freshUntil > this.#clock.now()) {
				this.#l1Set(target.key, shared);
				return shared.report;
			}
		}
		// The shared read yielded; another caller may have started the fetch meanwhile.
		const flight = this.#inFlight.get(target.key) ?? this.#startFlight(target, () => this.#fetchLocal(target));
		return settle(await raceSignal(flight, signal, "usage lookup aborted by caller"));
	}

	#version = 0;

	/** Changes whenever an in-memory report is stored or dropped (ranking recomputes only then). */
	get version(): number {
		return this.#version;
	}

	#l1Set(key: string, entry: CacheEntry): void {
		this.#version += 1;
		this.#memory.set(key, entry);
	}

	#l1Delete(key: string): void {
		this.#version += 1;
		this.#memory.delete(key);
	}

	/** In-memory (L1) value only, fresh or last good; never I/O. */
	peekReport(row: StoredAuthCredential, baseUrl?: string): UsageReport | null {
		const entry = this.#memory.peek(this.#target(row, baseUrl).key);
		if (!entry || entry.fetchedAt < this.#clock.now() - this.#lastGoodMs) return null;
		return entry.report;
	}

	/**
	 * Reports for ranking: fetched in parallel, waiting at most `rankingWaitMs` overall; rows whose
	 * fetch is still running map to their peeked value (or `null`) — slow usage never blocks selection.
	 *
	 * @throws AbortedError when `options.signal` aborts.
	 */
	async getReportsForRanking(
		rows: StoredAuthCredential[],
		options: UsageLookupOptions = {},
	): Promise<Map<number, UsageReport | null>> {
		if (!options.forceRefresh) {
			// Every candidate fresh in memory (the common case): no promise per row, no wait timer.
			const now = this.#clock.now();
			const fresh = new Map<number, UsageReport | null>();
			for (const row of rows) {
				const cached = this.#memory.peek(this.#target(row, options.baseUrl).key);
				if (!cached || cached.freshUntil <= now) break;
				fresh.set(row.id, cached.report);
			}
			if (fresh.size === rows.length) return fresh;
		}
		const settled = new Map<number, UsageReport | null>();
		const all = Promise.all(
			rows.map((row) =>
				this.getReport(row, options).then(
					(report) => settled.set(row.id, report),
					(error: unknown) => {
						this.#logger.debug("usage lookup for ranking failed", {
							provider: row.provider,
							credentialId: row.id,
							error: describeError(error, row.credential),
						});
						settled.set(row.id, null);
					},
				),
			),
		);
		let timer: ReturnType<typeof setTimeout> | undefined;
		const deadline = new Promise<void>((resolve) => {
			timer = setTimeout(resolve, this.rankingWaitMs);
			// Never keep the process alive just to time out a ranking wait.
			timer.unref?.();
		});
		try {
			await raceSignal(
				Promise.race([all.then(() => undefined), deadline]),
				options.signal,
				"usage lookup aborted by caller",
			);
		} finally {
			clearTimeout(timer);
		}
		const result = new Map<number, UsageReport | null>();
		for (const row of rows) {
			result.set(row.id, settled.has(row.id) ? (settled.get(row.id) ?? null) : this.peekReport(row, options.baseUrl));
		}
		return result;
	}

	/**
	 * Aggregate: one report per distinct account (deduplicated across rows of the same account).
	 * A store `upstream.fetchUsageReports` hook, when present, answers instead (one shared call).
	 *
	 * @throws AbortedError when `options.signal` aborts.
	 */
	async fetchReports(
		rows: StoredAuthCredential[],
		options: { baseUrlResolver?: (provider: string) => string | undefined; signal?: AbortSignal } = {},
	): Promise<UsageReport[]> {
		const upstream = this.#store.upstream;
		if (upstream?.fetchUsageReports) {
			if (!this.#aggregateFlight) {
				// The caller's signal is not forwarded: one caller's abort must not cancel the others' call.
				const flight = withTimeout(
					this.#requestTimeoutMs,
					"upstream usage reports timed out",
					(signal) => upstream.fetchUsageReports?.(signal) ?? Promise.resolve(null),
				).finally(() => {
					if (this.#aggregateFlight === flight) this.#aggregateFlight = undefined;
				});
				this.#aggregateFlight = flight;
			}
			const reports = await raceSignal(this.#aggregateFlight, options.signal, "usage lookup aborted by caller");
			return reports ?? [];
		}
		const lookups = rows
			.map((row) => ({ row, baseUrl: options.baseUrlResolver?.(row.provider) }))
			.filter(({ row, baseUrl }) => this.supports(row, baseUrl));
		const results = await Promise.all(
			lookups.map(async ({ row, baseUrl }) => {
				const report = await this.getReport(row, { baseUrl, signal: options.signal });
				return report ? { report, accountKey: usageAccountKey(row.credential) } : null;
			}),
		);
		return this.#dedupe(results.filter((entry) => entry !== null));
	}

	/**
	 * Merge a header-derived report into the cached one by limit id (at most once per interval per
	 * account). Returns `true` when taken in. Stores whose usage an upstream authority owns take none.
	 */
	async ingestHeaders(
		row: StoredAuthCredential,
		headers: Record<string, string>,
		options: { baseUrl?: string } = {},
	): Promise<boolean> {
		const upstream = this.#store.upstream;
		if (upstream?.getUsageReport || upstream?.fetchUsageReports) return false;
		const target = this.#target(row, options.baseUrl);
		const parse = target.usage?.parseRateLimitHeaders;
		if (!parse) return false;
		const now = this.#clock.now();
		const last = this.#headersAt.peek(target.key);
		if (last !== undefined && now - last < this.#headerIngestIntervalMs) return false;
		const lowered: Record<string, string> = {};
		for (const [name, value] of Object.entries(headers)) lowered[name.toLowerCase()] = value;
		let parsed: UsageReport | null;
		try {
			parsed = parse.call(target.usage, lowered, now);
		} catch (error) {
			this.#logger.debug("usage header parse failed", {
				provider: row.provider,
				credentialId: row.id,
				error: describeError(error, row.credential),
			});
			return false;
		}
		if (!isUsageReport(parsed)) return false;
		this.#headersAt.set(target.key, now);

		const metadata: Record<string, unknown> = { ...(parsed.metadata ?? {}) };
		const identity = row.credential.type === "oauth" ? oauthIdentity(row.credential) : {};
		for (const [name, value] of Object.entries(identity)) {
			if (metadata[name] === undefined) metadata[name] = value;
		}
		const prior = (await this.#lastGoodEntry(target.key, now))?.report;
		const report: UsageReport = prior
			? {
					...prior,
					fetchedAt: now,
					limits: mergeLimitsById(prior.limits, parsed.limits),
					metadata: { ...metadata, ...(prior.metadata ?? {}), headersUpdatedAt: now },
				}
			: { ...parsed, metadata };
		// Headers arrive with traffic; counting them as fresh spares the (often IP-rate-limited) usage endpoint.
		await this.#remember(target.key, { report, fetchedAt: now, freshUntil: now + this.#jitteredFreshMs() });
		return true;
	}

	/** Record a request cost (cost-derived providers); `false` without a ledger or for a non-finite/negative cost. */
	async recordCost(row: StoredAuthCredential, costUsd: number, recordedAt?: number): Promise<boolean> {
		const ledger = this.#store.ledger;
		if (!ledger || !Number.isFinite(costUsd) || costUsd < 0) return false;
		await ledger.recordUsageCosts([
			{
				recordedAt: recordedAt ?? this.#clock.now(),
				provider: row.provider,
				accountKey: usageAccountKey(row.credential),
				costUsd,
			},
		]);
		// A report computed from recorded costs is stale the moment a cost lands.
		if (this.#registry.get(row.provider)?.usage?.derivedFromCosts) await this.invalidate(row);
		return true;
	}

	/** Usage snapshots from the store's ledger, oldest first (`[]` without a ledger). */
	async listHistory(query?: UsageHistoryQuery): Promise<UsageHistoryEntry[]> {
		return this.#store.ledger ? this.#store.ledger.listUsageHistory(query) : [];
	}

	/** Recorded request costs, oldest first (`[]` without a ledger). */
	async listCosts(query?: UsageCostHistoryQuery): Promise<UsageCostHistoryEntry[]> {
		return this.#store.ledger ? this.#store.ledger.listUsageCosts(query) : [];
	}

	/** Drop cached reports (one row's, or all), last good values and failure cool-downs included. */
	async invalidate(row?: StoredAuthCredential): Promise<void> {
		let keys: string[];
		if (row) {
			const defaultKey = this.#target(row).key;
			// Keys of other base URLs share the provider/version prefix and the account suffix.
			const prefix = defaultKey.slice(0, defaultKey.indexOf(":", CACHE_PREFIX.length) + 1);
			const suffix = defaultKey.slice(defaultKey.lastIndexOf(":"));
			keys = [...this.#memory.keys()].filter((key) => key.startsWith(prefix) && key.endsWith(suffix));
			if (!keys.includes(defaultKey)) keys.push(defaultKey);
		} else {
			keys = [...this.#memory.keys()];
		}
		for (const key of keys) {
			this.#l1Delete(key);
			this.#failedAt.delete(key);
			this.#headersAt.delete(key);
		}
		if (!row) {
			this.#failedAt.clear();
			this.#headersAt.clear();
		}
		await Promise.all(
			keys.map((key) =>
				this.#store.cache.delete(key).catch((error: unknown) => {
					this.#logger.debug("usage cache delete failed", { error: describeError(error) });
				}),
			),
		);
	}

	// ── internals ────────────────────────────────────────────────────────────

	#target(row: StoredAuthCredential, baseUrl?: string): Target {
		// Rows are immutable snapshots (a write replaces the object), so a row's target can be memoised:
		// ranking looks every candidate up on each call and must not re-hash identities each time.
		let byBase = this.#targets.get(row);
		if (!byBase) {
			byBase = new Map();
			this.#targets.set(row, byBase);
		}
		const memoKey = baseUrl || "";
		const known = byBase.get(memoKey);
		if (known) return known;
		const usage = this.#registry.get(row.provider)?.usage;
		const credential = toUsageCredential(row);
		const accountKey = usageAccountKey(row.credential);
		const version = usage?.cacheVersion !== undefined ? `:v${usage.cacheVersion}` : "";
		// Hashing keeps keys short and keeps emails out of cache keys.
		const account = sha256Hex(accountKey).slice(0, 32);
		const key = `${CACHE_PREFIX}${row.provider}${version}:${baseUrl || "default"}:${account}`;
		const target: Target = { key, row, accountKey, credential };
		if (baseUrl) target.baseUrl = baseUrl;
		if (usage) target.usage = usage;
		byBase.set(memoKey, target);
		return target;
	}

	#params(target: Target, signal: AbortSignal): UsageFetchParams {
		const params: UsageFetchParams = {
			provider: target.row.provider,
			credential: target.credential,
			accountKey: target.accountKey,
			signal,
		};
		if (target.baseUrl) params.baseUrl = target.baseUrl;
		return params;
	}

	#targetSupported(target: Target): boolean {
		const usage = target.usage;
		if (!usage?.supports) return true;
		try {
			return usage.supports(this.#params(target, new AbortController().signal));
		} catch {
			return false;
		}
	}

	#jitteredFreshMs(): number {
		return this.#freshMs * (1 + 0.25 * (2 * this.#random() - 1));
	}

	#coolingDown(key: string, now: number): boolean {
		const failedAt = this.#failedAt.peek(key);
		return failedAt !== undefined && now - failedAt < this.#failureCooldownMs;
	}

	/** One shared fetch per cache key; the entry is dropped when it settles. */
	#startFlight(target: Target, run: () => Promise<FlightResult>): Promise<FlightResult> {
		const flight = run().finally(() => {
			if (this.#inFlight.get(target.key) === flight) this.#inFlight.delete(target.key);
		});
		this.#inFlight.set(target.key, flight);
		return flight;
	}

	async #fetchUpstream(target: Target): Promise<FlightResult> {
		const upstream = this.#store.upstream;
		const { row } = target;
		let report: UsageReport | null;
		try {
			report = await withTimeout(
				this.#requestTimeoutMs,
				`upstream usage report for ${row.provider} credential ${row.id} timed out`,
				(signal) => upstream?.getUsageReport?.(row.provider, row.credential, signal) ?? Promise.resolve(null),
			);
		} catch (error) {
			this.#logger.debug("upstream usage report failed", {
				provider: row.provider,
				credentialId: row.id,
				error: describeError(error, row.credential),
			});
			return { report: null, fetched: false };
		}
		// The authority's answer is final: no local fetch and no last-good fallback.
		if (!isUsageReport(report)) return { report: null, fetched: false };
		const now = this.#clock.now();
		// The authority already caches and shares; keep it in memory only so ranking stays cheap.
		this.#l1Set(target.key, { report, fetchedAt: now, freshUntil: now + this.#jitteredFreshMs() });
		return { report, fetched: true };
	}

	async #fetchLocal(target: Target): Promise<FlightResult> {
		const { row } = target;
		const usage = target.usage as UsageProvider;
		let report: UsageReport | null = null;
		try {
			const fetched = await withTimeout(
				this.#requestTimeoutMs,
				`usage fetch for ${row.provider} credential ${row.id} timed out`,
				(signal) => usage.fetchUsage(this.#params(target, signal), this.#ctx),
			);
			if (isUsageReport(fetched)) report = fetched;
		} catch (error) {
			this.#logger.debug("usage fetch failed", {
				provider: row.provider,
				credentialId: row.id,
				error: describeError(error, row.credential),
			});
		}
		const now = this.#clock.now();
		if (!report) {
			this.#failedAt.set(target.key, now);
			return { report: await this.#lastGood(target.key, now), fetched: false };
		}
		this.#failedAt.delete(target.key);
		await this.#remember(target.key, { report, fetchedAt: now, freshUntil: now + this.#jitteredFreshMs() });
		await this.#recordHistory(target, report, now);
		return { report, fetched: true };
	}

	/** Write L1 and L2; L2 keeps the entry for `lastGoodMs` so the last good value outlives freshness. */
	async #remember(key: string, entry: CacheEntry): Promise<void> {
		this.#l1Set(key, entry);
		// `raw` can be large and is never needed by another process.
		const { raw: _raw, ...report } = entry.report;
		const value = JSON.stringify({ report, fetchedAt: entry.fetchedAt, freshUntil: entry.freshUntil });
		try {
			await this.#store.cache.set(key, value, entry.fetchedAt + this.#lastGoodMs);
		} catch (error) {
			this.#logger.debug("usage cache write failed", { error: describeError(error) });
		}
	}

	async #readShared(key: string, includeExpired: boolean): Promise<CacheEntry | null> {
		let value: string | null;
		try {
			value = await this.#store.cache.get(key, { includeExpired });
		} catch (error) {
			this.#logger.debug("usage cache read failed", { error: describeError(error) });
			return null;
		}
		if (value === null) return null;
		try {
			const parsed: unknown = JSON.parse(value);
			if (!isRecord(parsed) || !isUsageReport(parsed.report) || typeof parsed.freshUntil !== "number") return null;
			const fetchedAt = typeof parsed.fetchedAt === "number" ? parsed.fetchedAt : parsed.report.fetchedAt;
			return { report: parsed.report, fetchedAt, freshUntil: parsed.freshUntil };
		} catch {
			return null;
		}
	}

	/** The newest entry no older than `lastGoodMs`, from L1 or else L2 (expired entries included). */
	async #lastGoodEntry(key: string, now: number): Promise<CacheEntry | null> {
		const oldest = now - this.#lastGoodMs;
		const local = this.#memory.peek(key);
		if (local && local.fetchedAt >= oldest) return local;
		const shared = await this.#readShared(key, true);
		if (shared && shared.fetchedAt >= oldest) {
			this.#l1Set(key, shared);
			return shared;
		}
		return null;
	}

	async #lastGood(key: string, now: number): Promise<UsageReport | null> {
		return (await this.#lastGoodEntry(key, now))?.report ?? null;
	}

	async #recordHistory(target: Target, report: UsageReport, now: number): Promise<void> {
		const ledger = this.#store.ledger;
		if (!ledger || report.limits.length === 0) return;
		const bucket = Math.floor(now / HOUR_MS);
		const { row, accountKey } = target;
		const identity = row.credential.type === "oauth" ? oauthIdentity(row.credential) : {};
		const metaEmail = str(report.metadata?.email);
		const metaAccountId = str(report.metadata?.accountId);
		const entries: UsageHistoryEntry[] = [];
		const written: string[] = [];
		for (const limit of report.limits) {
			const bucketKey = `${row.provider}\n${accountKey}\n${limit.id}`;
			if (this.#historyBuckets.peek(bucketKey) === bucket) continue;
			written.push(bucketKey);
			const entry: UsageHistoryEntry = {
				recordedAt: now,
				provider: row.provider,
				accountKey,
				limitId: limit.id,
				label: limit.label,
			};
			const email = identity.email ?? metaEmail;
			const accountId = identity.accountId ?? str(limit.scope?.accountId) ?? metaAccountId;
			if (email) entry.email = email;
			if (accountId) entry.accountId = accountId;
			const windowLabel = limit.window?.label ?? limit.scope?.windowId;
			if (windowLabel !== undefined) entry.windowLabel = windowLabel;
			const usedFraction = resolveUsedFraction(limit);
			if (usedFraction !== undefined) entry.usedFraction = usedFraction;
			if (limit.status !== undefined) entry.status = limit.status;
			if (limit.window?.resetsAt !== undefined) entry.resetsAt = limit.window.resetsAt;
			entries.push(entry);
		}
		if (entries.length === 0) return;
		try {
			await ledger.recordUsageSnapshots(entries);
			for (const bucketKey of written) this.#historyBuckets.set(bucketKey, bucket);
		} catch (error) {
			this.#logger.debug("usage history write failed", {
				provider: row.provider,
				error: describeError(error, row.credential),
			});
		}
	}

	/** Group reports of one account (same accountKey, or same reported account id / email) and merge each group. */
	#dedupe(entries: { report: UsageReport; accountKey: string }[]): UsageReport[] {
		const groups: UsageReport[][] = [];
		const groupOf = new Map<string, number>();
		for (const { report, accountKey } of entries) {
			const provider = report.provider;
			const identifiers = [`${provider}\nkey\n${accountKey}`];
			const email = str(report.metadata?.email)?.toLowerCase();
			if (email) identifiers.push(`${provider}\nemail\n${email}`);
			const accountId = str(report.metadata?.accountId);
			// One account id can span a team workspace of several people for these providers.
			if (accountId && !EMAIL_IDENTITY_PROVIDERS.has(provider)) identifiers.push(`${provider}\naccount\n${accountId}`);
			let index = identifiers.map((id) => groupOf.get(id)).find((found) => found !== undefined);
			if (index === undefined) {
				index = groups.length;
				groups.push([]);
			}
			groups[index]?.push(report);
			for (const id of identifiers) groupOf.set(id, index);
		}
		return groups.map(mergeReports);
	}
}
