/**
 * The usage type model. Plugins produce `UsageReport`s; the pool ranks
 * and blocks credentials from them.
 */
import type { Clock, FetchLike, Logger } from "../types";

export type UsageUnit = "percent" | "tokens" | "requests" | "usd" | "minutes" | "bytes" | "unknown";
export type UsageStatus = "ok" | "warning" | "exhausted" | "unknown";

export interface UsageWindow {
	id: string;
	label: string;
	durationMs?: number;
	/** Epoch ms. */
	resetsAt?: number;
}

export interface UsageAmount {
	used?: number;
	limit?: number;
	remaining?: number;
	/** 0..1 (may exceed 1 for overage). */
	usedFraction?: number;
	remainingFraction?: number;
	unit: UsageUnit;
}

export interface UsageScope {
	provider: string;
	accountId?: string;
	projectId?: string;
	orgId?: string;
	modelId?: string;
	tier?: string;
	windowId?: string;
	/** One account-wide quota that every model draws from. */
	shared?: boolean;
}

export interface UsageLimit {
	id: string;
	label: string;
	scope: UsageScope;
	window?: UsageWindow;
	amount: UsageAmount;
	status?: UsageStatus;
	notes?: string[];
}

export interface UsageResetCreditDetail {
	grantedAt?: string;
	expiresAt?: string;
	status?: string;
}

export interface UsageResetCredits {
	availableCount: number;
	credits?: UsageResetCreditDetail[];
}

export interface UsageReport {
	provider: string;
	/** Epoch ms. */
	fetchedAt: number;
	limits: UsageLimit[];
	resetCredits?: UsageResetCredits;
	notes?: string[];
	/** May carry accountId, email, orgId, projectId, planType, endpoint. */
	metadata?: Record<string, unknown>;
	/** Upstream payload; stripped before anything leaves a broker. */
	raw?: unknown;
}

export interface UsageHistoryEntry {
	recordedAt: number;
	provider: string;
	accountKey: string;
	email?: string;
	accountId?: string;
	limitId: string;
	label: string;
	windowLabel?: string;
	usedFraction?: number;
	status?: UsageStatus;
	resetsAt?: number;
}

export interface UsageHistoryQuery {
	provider?: string;
	/** Inclusive. */
	sinceMs?: number;
}

export interface UsageCostHistoryEntry {
	recordedAt: number;
	provider: string;
	accountKey: string;
	costUsd: number;
}

export interface UsageCostHistoryQuery {
	provider?: string;
	accountKey?: string;
	/** Inclusive. */
	sinceMs?: number;
}

/** The credential as a usage provider sees it. */
export interface UsageCredential {
	type: "api_key" | "oauth";
	apiKey?: string;
	accessToken?: string;
	refreshToken?: string;
	expiresAt?: number;
	accountId?: string;
	projectId?: string;
	email?: string;
	enterpriseUrl?: string;
	apiEndpoint?: string;
	metadata?: Record<string, unknown>;
}

export interface UsageFetchParams {
	provider: string;
	credential: UsageCredential;
	accountKey?: string;
	baseUrl?: string;
	signal?: AbortSignal;
}

export interface UsageFetchContext {
	fetch: FetchLike;
	clock: Clock;
	logger: Logger;
	/** Environment (defaults to `process.env` in AuthStorage). */
	env: Record<string, string | undefined>;
	/** Injectable sleep for retry backoff (tests make it instant). */
	retryWait?: (delayMs: number, signal?: AbortSignal) => Promise<void>;
	/** Recorded request costs, for cost-derived providers (opencode-go). */
	listUsageCosts?: (query?: UsageCostHistoryQuery) => Promise<UsageCostHistoryEntry[]>;
}

export interface UsageProvider {
	/** `null` on failure; never throws except on abort. */
	fetchUsage(params: UsageFetchParams, ctx: UsageFetchContext): Promise<UsageReport | null>;
	/** Headers have lower-cased keys. `null` when the headers carry no limit. */
	parseRateLimitHeaders?(headers: Record<string, string>, now: number): UsageReport | null;
	supports?(params: UsageFetchParams): boolean;
	/** `false` when a successful fetch does not prove the credential works (health check says `null`). */
	validatesCredentials?: boolean;
	/** Bump to invalidate cached reports after a parser change. */
	cacheVersion?: number;
	/**
	 * The report is computed from costs recorded through the pool (no upstream call): recording a cost
	 * drops the cached report so the next read reflects it.
	 */
	derivedFromCosts?: boolean;
}

export interface CredentialRankingContext {
	modelId?: string;
}

export interface CredentialRankingStrategy {
	findWindowLimits(
		report: UsageReport,
		ctx?: CredentialRankingContext,
	): { primary?: UsageLimit; secondary?: UsageLimit };
	/** Limits that gate this request; default: all `report.limits`. */
	scopeLimits?(report: UsageReport, ctx?: CredentialRankingContext): UsageLimit[];
	/** Provider-local block bucket; `undefined` = the whole credential. */
	blockScope?(ctx?: CredentialRankingContext): string | undefined;
	windowDefaults: { primaryMs: number; secondaryMs: number };
	hasPriorityBoost?(primary: UsageLimit | undefined): boolean;
	/**
	 * Plan priority when a model needs a plan (0 = best). Return `undefined` when the model is not
	 * plan-gated. Codex: Pro plans first for `-spark` models.
	 */
	planPriority?(report: UsageReport | null, ctx?: CredentialRankingContext): number | undefined;
}
