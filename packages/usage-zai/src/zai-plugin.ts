import type {
	ProviderPlugin,
	UsageFetchContext,
	UsageFetchParams,
	UsageLimit,
	UsageProvider,
	UsageReport,
	UsageWindow,
} from "@authpool/core";
import { clamp, invalidOptions, isRecord, statusFromUsedFraction, toNumber } from "@authpool/core";
import { z } from "zod";

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const DEFAULT_ORIGIN = "https://api.z.ai";
const USER_AGENT = "OpenCode-Status-Plugin/1.0";

/** URLs the plugin calls (tests point them at the fake provider). */
export interface ZaiEndpoints {
	/** Origin used when the caller passes no base URL. @default "https://api.z.ai" */
	origin: string;
}

export interface ZaiPluginOptions {
	endpoints?: Partial<ZaiEndpoints>;
}

const optionsSchema = z.object({ endpoints: z.object({ origin: z.string().url() }).partial().optional() }).strict();

function plural(count: number, one: string, many: string): string {
	return `${count} ${count === 1 ? one : many}`;
}

/** Window from Z.ai's unit code + multiplier. */
export function zaiWindow(unit: number | undefined, number: number | undefined, resetsAt?: number): UsageWindow {
	const count = number !== undefined && number > 0 ? number : 1;
	const reset = resetsAt !== undefined ? { resetsAt } : {};
	switch (unit) {
		case 3:
			return { id: `${count}h`, label: plural(count, "Hour", "Hours"), durationMs: count * HOUR, ...reset };
		case 4:
			return { id: `${count}d`, label: plural(count, "Day", "Days"), durationMs: count * DAY, ...reset };
		case 5:
			return {
				id: `${count}mo`,
				label: count === 1 ? "Monthly" : `${count} Months`,
				durationMs: count * 30 * DAY,
				...reset,
			};
		case 6:
			return { id: "1w", label: "Weekly", durationMs: 7 * DAY, ...reset };
		default:
			return { id: unit === undefined ? "quota" : `${count}u${unit}`, label: "Quota", ...reset };
	}
}

const SEARCH_MODELS = ["search-prime", "web-reader", "zread"];

/** Map a `quota/limit` payload to limits; `[]` when the payload has none. */
export function parseZaiLimits(payload: unknown): UsageLimit[] {
	if (!isRecord(payload) || !isRecord(payload.data) || !Array.isArray(payload.data.limits)) return [];
	const limits: UsageLimit[] = [];
	for (const item of payload.data.limits) {
		if (!isRecord(item)) continue;
		const type = item.type;
		if (type !== "TOKENS_LIMIT" && type !== "TIME_LIMIT") continue;
		const limit = toNumber(item.usage);
		const used = toNumber(item.currentValue);
		const remaining = toNumber(item.remaining);
		const percentage = toNumber(item.percentage);
		const rawReset = toNumber(item.nextResetTime);
		// Z.ai sends ms, but some responses carry seconds.
		const resetsAt = rawReset === undefined ? undefined : rawReset <= 1e12 ? rawReset * 1000 : rawReset;
		const window = zaiWindow(toNumber(item.unit), toNumber(item.number), resetsAt);
		let usedFraction: number | undefined;
		if (percentage !== undefined) usedFraction = clamp(percentage / 100, 0, 1);
		else if (used !== undefined && limit !== undefined && limit > 0) usedFraction = Math.min(used / limit, 1);
		const isTokens = type === "TOKENS_LIMIT";
		const details = Array.isArray(item.usageDetails) ? item.usageDetails : [];
		const codes = new Set(details.map((d) => (isRecord(d) ? d.modelCode : undefined)));
		const label = isTokens
			? `ZAI ${window.label} Token Quota`
			: SEARCH_MODELS.every((code) => codes.has(code))
				? "ZAI Web Search / Reader / Zread Quota"
				: "ZAI Request Quota";
		limits.push({
			id: `zai:${isTokens ? "tokens" : "requests"}:${window.id}`,
			label,
			scope: { provider: "zai", windowId: window.id, shared: true },
			window,
			amount: {
				...(used !== undefined ? { used } : {}),
				...(limit !== undefined ? { limit } : {}),
				...(remaining !== undefined ? { remaining } : {}),
				...(usedFraction !== undefined ? { usedFraction, remainingFraction: 1 - usedFraction } : {}),
				unit: isTokens ? "tokens" : "requests",
			},
			...(usedFraction !== undefined ? { status: statusFromUsedFraction(usedFraction) } : {}),
		});
	}
	return limits;
}

function pad(value: number): string {
	return String(value).padStart(2, "0");
}

/** Local-time `YYYY-MM-DD HH:mm:ss` (the API's format; the space is sent as `+`, encoded `%2B`). */
function localStamp(ms: number): string {
	const d = new Date(ms);
	return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}+${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

function originOf(baseUrl: string | undefined, fallback: string): string {
	if (!baseUrl) return fallback;
	try {
		return new URL(baseUrl).origin;
	} catch {
		return fallback;
	}
}

/** Build the Z.ai usage provider. */
export function createZaiUsageProvider(endpoints: ZaiEndpoints = { origin: DEFAULT_ORIGIN }): UsageProvider {
	const supports = (params: UsageFetchParams) =>
		params.provider === "zai" && params.credential.type === "api_key" && !!params.credential.apiKey;
	return {
		supports,
		async fetchUsage(params: UsageFetchParams, ctx: UsageFetchContext): Promise<UsageReport | null> {
			if (!supports(params)) return null;
			const origin = originOf(params.baseUrl, endpoints.origin);
			const headers = {
				// Z.ai takes the raw key, without "Bearer".
				Authorization: params.credential.apiKey!,
				"Content-Type": "application/json",
				"User-Agent": USER_AGENT,
			};
			let payload: unknown;
			try {
				const response = await ctx.fetch(`${origin}/api/monitor/usage/quota/limit`, {
					headers,
					...(params.signal ? { signal: params.signal } : {}),
				});
				if (!response.ok) {
					ctx.logger.debug("zai: quota request failed", { status: response.status });
					return null;
				}
				payload = await response.json();
			} catch (error) {
				if (params.signal?.aborted) throw error;
				ctx.logger.debug("zai: quota request errored", { error: error instanceof Error ? error.name : "unknown" });
				return null;
			}
			if (!isRecord(payload) || payload.success !== true) return null;
			const now = ctx.clock.now();
			const metadata: Record<string, unknown> = {
				endpoint: origin,
				accountId: params.credential.accountId,
				email: params.credential.email,
			};
			try {
				const start = encodeURIComponent(localStamp(now - 7 * DAY));
				const end = encodeURIComponent(localStamp(now));
				const response = await ctx.fetch(`${origin}/api/monitor/usage/model-usage?startTime=${start}&endTime=${end}`, {
					headers,
					...(params.signal ? { signal: params.signal } : {}),
				});
				if (response.ok) {
					const body: unknown = await response.json();
					if (isRecord(body)) metadata.modelUsage = body;
				}
			} catch (error) {
				// Best effort: the model-usage breakdown is informational only; an abort still stops the caller.
				if (params.signal?.aborted) throw error;
			}
			return { provider: "zai", fetchedAt: now, limits: parseZaiLimits(payload), metadata, raw: payload };
		},
	};
}

/**
 * Build the `zai` plugin: API-key provider (`ZAI_API_KEY`) with quota limits from the monitor API.
 * @throws AuthpoolError `INVALID_OPTIONS` for malformed options.
 * @example
 * const storage = new AuthStorage(store, { providers: [createZaiPlugin()] });
 */
export function createZaiPlugin(options: ZaiPluginOptions = {}): ProviderPlugin {
	const parsed = optionsSchema.safeParse(options);
	if (!parsed.success) throw invalidOptions("zai plugin", parsed.error.issues);
	const endpoints: ZaiEndpoints = { origin: DEFAULT_ORIGIN, ...parsed.data.endpoints };
	return { id: "zai", name: "Z.ai", envApiKeys: ["ZAI_API_KEY"], usage: createZaiUsageProvider(endpoints) };
}

/** The `zai` plugin with the real endpoints. */
export const zai: ProviderPlugin = createZaiPlugin();
