/**
 * Pure helpers on usage reports, shared by the pool and by provider plugins.
 */
import type { UsageAmount, UsageLimit, UsageReport, UsageStatus } from "./types";

/** A finite number, or a non-blank numeric string parsed with `Number()`; else `undefined`. */
export function toNumber(value: unknown): number | undefined {
	if (typeof value === "number") return Number.isFinite(value) ? value : undefined;
	if (typeof value === "string" && value.trim() !== "") {
		const parsed = Number(value);
		return Number.isFinite(parsed) ? parsed : undefined;
	}
	return undefined;
}

/** Real booleans only. */
export function toBoolean(value: unknown): boolean | undefined {
	return typeof value === "boolean" ? value : undefined;
}

/** A non-null, non-array object. */
export function isRecord(value: unknown): value is Record<string, unknown> {
	return typeof value === "object" && value !== null && !Array.isArray(value);
}

export function clamp(value: number, min: number, max: number): number {
	return Math.min(max, Math.max(min, value));
}

/** Used fraction of a limit (docs/provider-plugins.md "Usage model"). May exceed 1 (overage). */
export function resolveUsedFraction(limit: Pick<UsageLimit, "amount">): number | undefined {
	const amount = limit.amount;
	if (amount.usedFraction !== undefined) return amount.usedFraction;
	if (amount.used !== undefined && amount.limit !== undefined && amount.limit > 0) return amount.used / amount.limit;
	if (amount.unit === "percent" && amount.used !== undefined) return amount.used / 100;
	if (amount.remainingFraction !== undefined) return Math.max(0, 1 - amount.remainingFraction);
	return undefined;
}

/** "Status p": ≥1 exhausted, ≥0.9 warning, else ok; `unknown` without a fraction. */
export function statusFromUsedFraction(fraction: number | undefined, warningAt = 0.9): UsageStatus {
	if (fraction === undefined) return "unknown";
	if (fraction >= 1) return "exhausted";
	if (fraction >= warningAt) return "warning";
	return "ok";
}

/** A percent amount `{used, limit: 100, remaining, usedFraction, remainingFraction}` from 0..100. */
export function percentAmount(usedPercent: number | undefined): UsageAmount {
	if (usedPercent === undefined) return { unit: "percent" };
	const used = clamp(usedPercent, 0, 100);
	return {
		used,
		limit: 100,
		remaining: 100 - used,
		usedFraction: used / 100,
		remainingFraction: (100 - used) / 100,
		unit: "percent",
	};
}

/** When a limit counts as exhausted (docs/provider-plugins.md "Usage model"). */
export function isLimitExhausted(limit: UsageLimit): boolean {
	if (limit.status === "exhausted") return true;
	const a = limit.amount;
	if (a.usedFraction !== undefined && a.usedFraction >= 1) return true;
	if (a.remainingFraction !== undefined && a.remainingFraction <= 0) return true;
	if (a.used !== undefined && a.limit !== undefined && a.used >= a.limit) return true;
	if (a.remaining !== undefined && a.remaining <= 0) return true;
	if (a.unit === "percent" && a.used !== undefined && a.used >= 100) return true;
	return false;
}

/** Earliest future `window.resetsAt` among exhausted limits, if any. */
export function earliestExhaustedReset(limits: UsageLimit[], now: number): number | undefined {
	let earliest: number | undefined;
	for (const limit of limits) {
		if (!isLimitExhausted(limit)) continue;
		const resetsAt = limit.window?.resetsAt;
		if (resetsAt === undefined || resetsAt <= now) continue;
		if (earliest === undefined || resetsAt < earliest) earliest = resetsAt;
	}
	return earliest;
}

/** Copy of a report without `raw` (for anything sent over the wire or logged). */
export function stripRaw(report: UsageReport): Omit<UsageReport, "raw"> {
	const { raw: _raw, ...rest } = report;
	return rest;
}

/** Epoch seconds → ms, leaving values above 1e12 (already ms) alone. */
export function epochToMs(value: number): number {
	return value > 1e12 ? value : value * 1000;
}
