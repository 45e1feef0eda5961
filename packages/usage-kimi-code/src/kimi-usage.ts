import type {
	UsageFetchContext,
	UsageFetchParams,
	UsageLimit,
	UsageProvider,
	UsageReport,
	UsageWindow,
} from "@authpool/core";
import { clamp, isRecord, statusFromUsedFraction, toNumber } from "@authpool/core";

const UNIT_MS: Record<string, number> = { SECOND: 1000, MINUTE: 60_000, HOUR: 3_600_000, DAY: 86_400_000 };

function unitName(timeUnit: unknown): string | undefined {
	if (typeof timeUnit !== "string") return undefined;
	const upper = timeUnit.toUpperCase();
	return ["SECOND", "MINUTE", "HOUR", "DAY"].find((unit) => upper.includes(unit));
}

/** "Nm limit" / "Nh limit" / "Nd limit" / "Ns limit" from a duration and its unit. */
function durationLabel(duration: number | undefined, timeUnit: unknown): string | undefined {
	const unit = unitName(timeUnit);
	if (duration === undefined || !unit) return undefined;
	switch (unit) {
		case "MINUTE":
			return duration % 60 === 0 ? `${duration / 60}h limit` : `${duration}m limit`;
		case "HOUR":
			return `${duration}h limit`;
		case "DAY":
			return `${duration}d limit`;
		default:
			return `${duration}s limit`;
	}
}

function str(value: unknown): string | undefined {
	return typeof value === "string" && value.trim() !== "" ? value : undefined;
}

/** Absolute reset keys (ISO or epoch s/ms), then relative-seconds keys. */
function resetTime(source: Record<string, unknown> | undefined, now: number): number | undefined {
	if (!source) return undefined;
	for (const key of ["reset_at", "resetAt", "reset_time", "resetTime"]) {
		const value = source[key];
		if (typeof value === "string" && value.trim() !== "" && Number.isNaN(Number(value))) {
			const parsed = Date.parse(value);
			if (Number.isFinite(parsed)) return parsed;
		}
		const numeric = toNumber(value);
		if (numeric !== undefined) return numeric > 1e12 ? numeric : numeric * 1000;
	}
	for (const key of ["reset_in", "resetIn", "ttl", "window"]) {
		const seconds = toNumber(source[key]);
		if (seconds !== undefined) return now + seconds * 1000;
	}
	return undefined;
}

interface Row {
	label: string;
	numbers: Record<string, unknown>;
	window?: UsageWindow;
}

function toLimit(row: Row, index: number, accountId: string | undefined): UsageLimit | undefined {
	const limit = toNumber(row.numbers.limit);
	const remaining = toNumber(row.numbers.remaining);
	let used = toNumber(row.numbers.used);
	if (used === undefined && limit !== undefined && remaining !== undefined) used = limit - remaining;
	if (limit === undefined && used === undefined && remaining === undefined) return undefined;
	const fraction = limit !== undefined && limit > 0 && used !== undefined ? clamp(used / limit, 0, 1) : undefined;
	return {
		id: `kimi-code:${index}`,
		label: row.label,
		scope: {
			provider: "kimi-code",
			...(accountId ? { accountId } : {}),
			...(row.window ? { windowId: row.window.id } : {}),
			shared: true,
		},
		...(row.window ? { window: row.window } : {}),
		amount: {
			...(used !== undefined ? { used } : {}),
			...(limit !== undefined ? { limit } : {}),
			...(remaining !== undefined ? { remaining } : {}),
			...(fraction !== undefined ? { usedFraction: fraction, remainingFraction: 1 - fraction } : {}),
			unit: "unknown",
		},
		status: statusFromUsedFraction(fraction),
	};
}

/** Map a `/usages` payload to limits; `[]` when it has no rows. */
export function parseKimiUsage(payload: unknown, now: number, accountId?: string): UsageLimit[] {
	if (!isRecord(payload)) return [];
	const rows: Row[] = [];
	if (isRecord(payload.usage)) {
		const summary = payload.usage;
		const resetsAt = resetTime(summary, now);
		rows.push({
			label: str(summary.name) ?? str(summary.title) ?? "Total quota",
			numbers: summary,
			...(resetsAt !== undefined ? { window: { id: "default", label: "Usage window", resetsAt } } : {}),
		});
	}
	if (Array.isArray(payload.limits)) {
		payload.limits.forEach((item, i) => {
			if (!isRecord(item)) return;
			const detail = isRecord(item.detail) ? item.detail : item;
			const windowSource = isRecord(item.window) ? item.window : undefined;
			const duration = toNumber(windowSource?.duration);
			const label =
				str(item.name) ??
				str(item.title) ??
				str(item.scope) ??
				str(detail.name) ??
				str(detail.title) ??
				durationLabel(duration, windowSource?.timeUnit) ??
				`Limit #${i + 1}`;
			let window: UsageWindow | undefined;
			if (windowSource) {
				const unit = unitName(windowSource.timeUnit);
				// The reset comes from the window object only (a reset given only in `detail` is not used here).
				const resetsAt = resetTime(windowSource, now);
				window = {
					id: `${duration ?? ""}${String(windowSource.timeUnit ?? "").toLowerCase()}`,
					label: durationLabel(duration, windowSource.timeUnit) ?? label,
					...(duration !== undefined && unit ? { durationMs: duration * UNIT_MS[unit]! } : {}),
					...(resetsAt !== undefined ? { resetsAt } : {}),
				};
			}
			rows.push({ label, numbers: detail, ...(window ? { window } : {}) });
		});
	}
	const limits: UsageLimit[] = [];
	rows.forEach((row, index) => {
		const limit = toLimit(row, index, accountId);
		if (limit) limits.push(limit);
	});
	return limits;
}

/** Build the Kimi Code usage provider. */
export function createKimiUsageProvider(options: {
	usageBaseUrl: string;
	headers: (env: Record<string, string | undefined>) => Record<string, string>;
}): UsageProvider {
	const supports = (params: UsageFetchParams) =>
		params.provider === "kimi-code" && params.credential.type === "oauth" && !!params.credential.accessToken;
	return {
		supports,
		async fetchUsage(params: UsageFetchParams, ctx: UsageFetchContext): Promise<UsageReport | null> {
			if (!supports(params)) return null;
			const now = ctx.clock.now();
			if (params.credential.expiresAt !== undefined && params.credential.expiresAt <= now) {
				ctx.logger.debug("kimi-code: access token expired; skipping usage fetch");
				return null;
			}
			const base = (params.baseUrl ?? ctx.env.KIMI_CODE_BASE_URL ?? options.usageBaseUrl).replace(/\/+$/, "");
			let payload: unknown;
			try {
				const response = await ctx.fetch(`${base}/usages`, {
					headers: { ...options.headers(ctx.env), Authorization: `Bearer ${params.credential.accessToken}` },
					...(params.signal ? { signal: params.signal } : {}),
				});
				if (!response.ok) {
					ctx.logger.debug("kimi-code: usage request failed", { status: response.status });
					return null;
				}
				payload = await response.json();
			} catch (error) {
				if (params.signal?.aborted) throw error;
				ctx.logger.debug("kimi-code: usage request errored", {
					error: error instanceof Error ? error.name : "unknown",
				});
				return null;
			}
			const limits = parseKimiUsage(payload, now, params.credential.accountId);
			if (limits.length === 0) return null;
			return { provider: "kimi-code", fetchedAt: now, limits, metadata: { endpoint: base }, raw: payload };
		},
	};
}
