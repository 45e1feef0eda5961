/**
 * Client-observed usage: what installs (laptops, CI jobs, gateways) saw of their own requests, tokens
 * and cost, reported to the pool's ledger (directly, or through a broker). Stores keep one bucket per
 * install + app + provider + model + hour, adding counts, so the ledger grows with hours, not requests.
 * These helpers are shared by every store: turn a report into bucket increments, and buckets into
 * per-install summaries.
 */
import { z } from "zod";
import { PROVIDER_ID_PATTERN } from "../util/provider-id";

const HOUR_MS = 3_600_000;

/** Requests, tokens and cost a client saw for one provider and model (one request, or a batch of them). */
export interface ObservedUsageEntry {
	/** Epoch ms of the observation (of the last request, for a batch). */
	at: number;
	provider: string;
	model: string;
	requests: number;
	inputTokens: number;
	outputTokens: number;
	cacheReadTokens: number;
	cacheWriteTokens: number;
	costUsd: number;
}

/** One install's report. `installId` is stable per install; `app` names the program that made the requests. */
export interface ClientUsageReport {
	installId: string;
	hostname?: string;
	app?: string;
	entries: ObservedUsageEntry[];
}

/** Totals of one install for one provider (and app), summed over models. */
export interface ClientUsageTotals {
	app?: string;
	provider: string;
	requests: number;
	inputTokens: number;
	outputTokens: number;
	cacheReadTokens: number;
	cacheWriteTokens: number;
	costUsd: number;
}

/** One install: when it was first and last seen, and its totals per provider. */
export interface ClientUsageSummary {
	installId: string;
	hostname?: string;
	firstSeen: number;
	lastSeen: number;
	providers: ClientUsageTotals[];
}

export interface ClientUsageQuery {
	/** Buckets of hours ending after this time (hour granularity). */
	sinceMs?: number;
}

/** What a store keeps per install + app + provider + model + hour. `app` is `""` when none was given. */
export interface ClientUsageBucket {
	installId: string;
	hostname: string | null;
	app: string;
	provider: string;
	model: string;
	hourBucket: number;
	firstAt: number;
	lastAt: number;
	requests: number;
	inputTokens: number;
	outputTokens: number;
	cacheReadTokens: number;
	cacheWriteTokens: number;
	costUsd: number;
}

const count = z.number().int().nonnegative().max(1e12);
const text = (max: number) =>
	z
		.string()
		.min(1)
		.max(max)
		.regex(/^[^\u0000-\u001f\u007f]*$/, "must not contain control characters");

/** Validation shared by `AuthStorage`, the stores and the broker (bounds keep one report small). */
export const clientUsageReportSchema = z.object({
	installId: text(128),
	hostname: text(255).optional(),
	app: text(128).optional(),
	entries: z
		.array(
			z.object({
				at: z.number().finite().positive().max(8.64e15),
				provider: z.string().regex(PROVIDER_ID_PATTERN, "must be a provider id"),
				model: text(256),
				requests: count,
				inputTokens: count,
				outputTokens: count,
				cacheReadTokens: count,
				cacheWriteTokens: count,
				costUsd: z.number().finite().nonnegative().max(1e9),
			}),
		)
		.max(1000),
});

export const clientUsageQuerySchema = z.object({ sinceMs: z.number().finite().optional() }).optional();

const SUMS = ["requests", "inputTokens", "outputTokens", "cacheReadTokens", "cacheWriteTokens", "costUsd"] as const;

/** A report as bucket increments: its entries merged per app + provider + model + hour. */
export function clientUsageIncrements(report: ClientUsageReport): ClientUsageBucket[] {
	const buckets = new Map<string, ClientUsageBucket>();
	for (const entry of report.entries) {
		const hourBucket = Math.floor(entry.at / HOUR_MS);
		const key = JSON.stringify([entry.provider, entry.model, hourBucket]);
		let bucket = buckets.get(key);
		if (!bucket) {
			bucket = {
				installId: report.installId,
				hostname: report.hostname ?? null,
				app: report.app ?? "",
				provider: entry.provider,
				model: entry.model,
				hourBucket,
				firstAt: entry.at,
				lastAt: entry.at,
				requests: 0,
				inputTokens: 0,
				outputTokens: 0,
				cacheReadTokens: 0,
				cacheWriteTokens: 0,
				costUsd: 0,
			};
			buckets.set(key, bucket);
		}
		bucket.firstAt = Math.min(bucket.firstAt, entry.at);
		bucket.lastAt = Math.max(bucket.lastAt, entry.at);
		for (const field of SUMS) bucket[field] += entry[field];
	}
	return [...buckets.values()];
}

/** Add `increment` into `bucket` (same key): counts add, first/last seen widen, a given hostname wins. */
export function mergeClientUsageBucket(bucket: ClientUsageBucket, increment: ClientUsageBucket): void {
	bucket.firstAt = Math.min(bucket.firstAt, increment.firstAt);
	bucket.lastAt = Math.max(bucket.lastAt, increment.lastAt);
	if (increment.hostname !== null) bucket.hostname = increment.hostname;
	for (const field of SUMS) bucket[field] += increment[field];
}

/**
 * Stored buckets as one summary per install (most recently seen first), with totals per app +
 * provider (models summed). The hostname is the one of the install's latest bucket that has one.
 */
export function summarizeClientUsage(buckets: readonly ClientUsageBucket[]): ClientUsageSummary[] {
	const installs = new Map<
		string,
		{ summary: ClientUsageSummary; hostnameAt: number; totals: Map<string, ClientUsageTotals> }
	>();
	for (const bucket of buckets) {
		let install = installs.get(bucket.installId);
		if (!install) {
			install = {
				summary: { installId: bucket.installId, firstSeen: bucket.firstAt, lastSeen: bucket.lastAt, providers: [] },
				hostnameAt: Number.NEGATIVE_INFINITY,
				totals: new Map(),
			};
			installs.set(bucket.installId, install);
		}
		const { summary } = install;
		summary.firstSeen = Math.min(summary.firstSeen, bucket.firstAt);
		summary.lastSeen = Math.max(summary.lastSeen, bucket.lastAt);
		if (bucket.hostname !== null && bucket.lastAt >= install.hostnameAt) {
			summary.hostname = bucket.hostname;
			install.hostnameAt = bucket.lastAt;
		}
		const key = JSON.stringify([bucket.app, bucket.provider]);
		let totals = install.totals.get(key);
		if (!totals) {
			totals = {
				...(bucket.app !== "" ? { app: bucket.app } : {}),
				provider: bucket.provider,
				requests: 0,
				inputTokens: 0,
				outputTokens: 0,
				cacheReadTokens: 0,
				cacheWriteTokens: 0,
				costUsd: 0,
			};
			install.totals.set(key, totals);
		}
		for (const field of SUMS) totals[field] += bucket[field];
	}
	const out = [...installs.values()].map(({ summary, totals }) => ({
		...summary,
		providers: [...totals.values()].sort(
			(a, b) => a.provider.localeCompare(b.provider) || (a.app ?? "").localeCompare(b.app ?? ""),
		),
	}));
	return out.sort((a, b) => b.lastSeen - a.lastSeen || a.installId.localeCompare(b.installId));
}

/** The first hour bucket a `sinceMs` query includes. */
export function clientUsageSinceBucket(sinceMs: number | undefined): number {
	return sinceMs === undefined ? Number.NEGATIVE_INFINITY : Math.floor(sinceMs / HOUR_MS);
}
