/**
 * UsageService: per-credential usage reports with a two-level cache (in-memory L1 over the store's
 * cache as L2, shared across processes), coalesced fetches, failure cool-down with last good value,
 * header ingestion, history and costs.
 *
 * SKELETON — the contract below is fixed (AuthStorage codes against it); bodies are being implemented.
 */
import type { ProviderRegistry } from "../plugin";
import type { AuthCredentialStore } from "../store";
import type { Clock, Env, FetchLike, Logger, StoredAuthCredential } from "../types";
import type {
	UsageCostHistoryEntry,
	UsageCostHistoryQuery,
	UsageHistoryEntry,
	UsageHistoryQuery,
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
}

export declare class UsageService {
	constructor(options: UsageServiceOptions);
	/** Overall wait for ranking: `max(5 s, 1.5 × requestTimeoutMs)`. */
	readonly rankingWaitMs: number;
	/** The plugin's usage provider supports this row (and one is registered). */
	supports(row: StoredAuthCredential, baseUrl?: string): boolean;
	/**
	 * A report for one row: fresh cache hit → it; else one coalesced fetch (bounded by
	 * `requestTimeoutMs`); on failure the last good report (≤ lastGoodMs old) or `null`.
	 * A store `upstream.getUsageReport` hook, when present, is used instead and its `null` is final.
	 * The caller's abort rejects only that caller. Records history (once per account+limit per hour).
	 */
	getReport(row: StoredAuthCredential, options?: UsageLookupOptions): Promise<UsageReport | null>;
	/** In-memory (L1) value only, fresh or last good; never I/O. */
	peekReport(row: StoredAuthCredential, baseUrl?: string): UsageReport | null;
	/**
	 * Reports for ranking: fetched in parallel, waiting at most `rankingWaitMs` overall; rows whose
	 * fetch is still running map to their peeked value (or `null`) — slow usage never blocks selection.
	 */
	getReportsForRanking(
		rows: StoredAuthCredential[],
		options?: UsageLookupOptions,
	): Promise<Map<number, UsageReport | null>>;
	/** Aggregate: one report per distinct account (deduplicated across rows of the same account). */
	fetchReports(
		rows: StoredAuthCredential[],
		options?: { baseUrlResolver?: (provider: string) => string | undefined; signal?: AbortSignal },
	): Promise<UsageReport[]>;
	/**
	 * Merge a header-derived report into the cached one by limit id (at most once per interval per
	 * account). Returns `true` when taken in.
	 */
	ingestHeaders(
		row: StoredAuthCredential,
		headers: Record<string, string>,
		options?: { baseUrl?: string },
	): Promise<boolean>;
	/** Record a request cost (cost-derived providers); `false` when the store has no ledger. */
	recordCost(row: StoredAuthCredential, costUsd: number, recordedAt?: number): Promise<boolean>;
	listHistory(query?: UsageHistoryQuery): Promise<UsageHistoryEntry[]>;
	listCosts(query?: UsageCostHistoryQuery): Promise<UsageCostHistoryEntry[]>;
	/** Drop cached reports (one row's, or all). */
	invalidate(row?: StoredAuthCredential): Promise<void>;
}
