import {
	AbortedError,
	clamp,
	isRecord,
	toNumber,
	type UsageAmount,
	type UsageFetchContext,
	type UsageFetchParams,
	type UsageLimit,
	type UsageProvider,
	type UsageReport,
	type UsageScope,
	type UsageStatus,
	type UsageWindow,
} from "@authpool/core";

/** Options of `createAntigravityUsageProvider`. */
export interface AntigravityUsageProviderOptions {
	/** Bases tried in order when the caller passes no `baseUrl`. */
	endpoints?: readonly string[];
	/** Version in the `User-Agent`. @default env `AUTHPOOL_ANTIGRAVITY_VERSION` (legacy `PI_AI_ANTIGRAVITY_VERSION` still read, deprecated), else "2.1.4" */
	version?: string;
}

const PROVIDER = "google-antigravity";
const DEFAULT_ENDPOINTS = [
	"https://daily-cloudcode-pa.googleapis.com",
	"https://daily-cloudcode-pa.sandbox.googleapis.com",
];
const DEFAULT_VERSION = "2.1.4";
const DAY_MS = 24 * 60 * 60 * 1000;
const WEEK_MS = 7 * DAY_MS;

/** One quota entry as the API sends it (after model-level providers are copied on). */
interface QuotaEntry {
	remainingFraction?: number;
	resetTime?: string;
	tier?: string;
	windowId?: string;
	windowLabel?: string;
	apiProvider?: string;
	modelProvider?: string;
}

interface WindowDescriptor {
	id: string;
	label: string;
	durationMs?: number;
}

const WEEKLY: WindowDescriptor = { id: "weekly", label: "Weekly", durationMs: WEEK_MS };
const DAILY: WindowDescriptor = { id: "daily", label: "Daily", durationMs: DAY_MS };

/** Classify an explicit window id/label; `undefined` when neither is given. */
function classifyWindow(id: string | undefined, label: string | undefined): WindowDescriptor | undefined {
	const text = `${id ?? ""} ${label ?? ""}`.toLowerCase();
	if (text.includes("week") || text.includes("7d") || /7[\s_-]*day/.test(text)) return WEEKLY;
	if (text.includes("day") || text.includes("daily") || text.includes("24h")) return DAILY;
	if (id || label) return { id: id ?? label ?? "default", label: label ?? id ?? "Default" };
	return undefined;
}

function str(value: unknown): string | undefined {
	return typeof value === "string" && value !== "" ? value : undefined;
}

function parseIso(value: string | undefined): number | undefined {
	if (!value) return undefined;
	const ms = Date.parse(value);
	return Number.isFinite(ms) ? ms : undefined;
}

function toEntry(value: unknown): QuotaEntry | undefined {
	if (!isRecord(value)) return undefined;
	const entry: QuotaEntry = {};
	const fraction = toNumber(value.remainingFraction);
	if (fraction !== undefined) entry.remainingFraction = fraction;
	for (const key of ["resetTime", "tier", "windowId", "windowLabel", "apiProvider", "modelProvider"] as const) {
		const text = str(value[key]);
		if (text !== undefined) entry[key] = text;
	}
	return entry;
}

/** Flatten every quota key family of one model into entries. */
function collectEntries(model: Record<string, unknown>): QuotaEntry[] {
	const entries: QuotaEntry[] = [];
	const source: Pick<QuotaEntry, "apiProvider" | "modelProvider"> = {};
	const apiProvider = str(model.apiProvider);
	const modelProvider = str(model.modelProvider);
	if (apiProvider) source.apiProvider = apiProvider;
	if (modelProvider) source.modelProvider = modelProvider;

	const add = (value: unknown, tier?: string, window?: WindowDescriptor): void => {
		for (const item of Array.isArray(value) ? value : [value]) {
			const entry = toEntry(item);
			if (!entry) continue;
			const merged: QuotaEntry = { ...source, ...entry };
			if (window) {
				merged.windowId = entry.windowId ?? window.id;
				merged.windowLabel = entry.windowLabel ?? window.label;
			}
			if (tier) merged.tier = tier;
			entries.push(merged);
		}
	};

	add(model.quotaInfo);
	add(model.quotaInfos);
	add(model.dailyQuotaInfo, undefined, DAILY);
	add(model.dailyQuotaInfos, undefined, DAILY);
	add(model.weeklyQuotaInfo, undefined, WEEKLY);
	add(model.weeklyQuotaInfos, undefined, WEEKLY);
	if (isRecord(model.quotaInfoByTier)) {
		for (const [tier, value] of Object.entries(model.quotaInfoByTier)) add(value, tier);
	}
	for (const map of [model.quotaInfoByWindow, model.quotaInfosByWindow]) {
		if (!isRecord(map)) continue;
		for (const [windowId, value] of Object.entries(map)) add(value, undefined, classifyWindow(windowId, undefined));
	}
	return entries;
}

/**
 * Window of every entry of one model. Entries without an explicit window are grouped by
 * provider|tier: within a group with several reset times the latest is the weekly one; any other
 * entry is weekly when its reset is more than a day away, else daily.
 */
function describeWindows(entries: QuotaEntry[], now: number): Map<QuotaEntry, WindowDescriptor> {
	const descriptors = new Map<QuotaEntry, WindowDescriptor>();
	const groups = new Map<string, QuotaEntry[]>();
	for (const entry of entries) {
		const explicit = classifyWindow(entry.windowId, entry.windowLabel);
		if (explicit) {
			descriptors.set(entry, explicit);
			continue;
		}
		const key = `${entry.modelProvider ?? ""}|${entry.apiProvider ?? ""}|${entry.tier ?? ""}`;
		const group = groups.get(key);
		if (group) group.push(entry);
		else groups.set(key, [entry]);
	}
	for (const group of groups.values()) {
		const resets = new Set<number>();
		for (const entry of group) {
			const resetAt = parseIso(entry.resetTime);
			if (resetAt !== undefined) resets.add(resetAt);
		}
		const latest = resets.size > 1 ? Math.max(...resets) : undefined;
		for (const entry of group) {
			const resetAt = parseIso(entry.resetTime);
			if (latest !== undefined && resetAt === latest) descriptors.set(entry, WEEKLY);
			else descriptors.set(entry, resetAt !== undefined && resetAt - now > DAY_MS ? WEEKLY : DAILY);
		}
	}
	return descriptors;
}

function buildWindow(entry: QuotaEntry, descriptor: WindowDescriptor | undefined): UsageWindow | undefined {
	const resetsAt = parseIso(entry.resetTime);
	if (!descriptor && resetsAt === undefined) return undefined;
	const window: UsageWindow = {
		id: descriptor?.id ?? entry.windowId ?? "default",
		label: entry.windowLabel ?? descriptor?.label ?? "Default",
	};
	if (descriptor?.durationMs !== undefined) window.durationMs = descriptor.durationMs;
	if (resetsAt !== undefined) window.resetsAt = resetsAt;
	return window;
}

function buildAmount(entry: QuotaEntry): UsageAmount {
	// Exhausted counters come back with only a reset time: treat them as empty, not unknown, so a healthy
	// sibling entry cannot hide them during dedupe.
	const fraction =
		entry.remainingFraction !== undefined
			? clamp(entry.remainingFraction, 0, 1)
			: entry.resetTime !== undefined
				? 0
				: undefined;
	if (fraction === undefined) return { unit: "percent" };
	const used = 1 - fraction;
	return {
		used: used * 100,
		limit: 100,
		remaining: fraction * 100,
		usedFraction: used,
		remainingFraction: fraction,
		unit: "percent",
	};
}

function statusOf(remainingFraction: number | undefined): UsageStatus {
	if (remainingFraction === undefined) return "unknown";
	if (remainingFraction <= 0) return "exhausted";
	if (remainingFraction <= 0.1) return "warning";
	return "ok";
}

function counterName(entry: QuotaEntry): string | undefined {
	switch (entry.modelProvider ?? entry.apiProvider) {
		case "MODEL_PROVIDER_ANTHROPIC":
		case "API_PROVIDER_ANTHROPIC_VERTEX":
			return "Anthropic";
		case "MODEL_PROVIDER_GOOGLE":
		case "API_PROVIDER_GOOGLE_GEMINI":
			return "Google";
		case "MODEL_PROVIDER_OPENAI":
		case "API_PROVIDER_OPENAI_VERTEX":
			return "OpenAI";
		default:
			return undefined;
	}
}

/** Identity copied into every limit's scope. */
export interface AntigravityQuotaScope {
	provider?: string;
	accountId?: string;
	projectId?: string;
}

interface Deduped {
	amount: UsageAmount;
	window: UsageWindow | undefined;
	tier: string | undefined;
	tierKey: string;
	windowId: string;
	counterName: string | undefined;
	counterKey: string;
}

/**
 * Map a `fetchAvailableModels` response to limits: one per backend counter × tier × window (entries of
 * different models that share a counter are merged, keeping the most pressured amount), sorted by
 * remaining fraction ascending so the bottleneck comes first.
 */
export function parseAntigravityModels(payload: unknown, scope: AntigravityQuotaScope, now: number): UsageLimit[] {
	const provider = scope.provider ?? PROVIDER;
	const models = isRecord(payload) && isRecord(payload.models) ? payload.models : {};
	const deduped = new Map<string, Deduped>();
	for (const model of Object.values(models)) {
		if (!isRecord(model)) continue;
		const entries = collectEntries(model);
		const descriptors = describeWindows(entries, now);
		for (const entry of entries) {
			const amount = buildAmount(entry);
			const window = buildWindow(entry, descriptors.get(entry));
			const tierKey = (entry.tier ?? "default").toLowerCase();
			const name = counterName(entry);
			const counterKey = name?.toLowerCase() ?? "default";
			const windowId = window?.id ?? entry.windowId ?? "default";
			const key = `${counterKey}|${tierKey}|${windowId}`;
			const existing = deduped.get(key);
			if (!existing) {
				deduped.set(key, { amount, window, tier: entry.tier, tierKey, windowId, counterName: name, counterKey });
				continue;
			}
			const before = existing.amount.remainingFraction;
			const after = amount.remainingFraction;
			if (
				(before === undefined && after !== undefined) ||
				(before !== undefined && after !== undefined && after < before)
			) {
				existing.amount = amount;
				existing.tier = entry.tier ?? existing.tier;
			} else {
				existing.tier = existing.tier ?? entry.tier;
			}
			// Keep a window that knows when it resets, whichever entry brought it.
			if (!existing.window?.resetsAt) existing.window = window ?? existing.window;
		}
	}

	const limits: UsageLimit[] = [];
	for (const entry of deduped.values()) {
		const limitScope: UsageScope = { provider };
		if (scope.accountId) limitScope.accountId = scope.accountId;
		if (scope.projectId) limitScope.projectId = scope.projectId;
		if (entry.tier) limitScope.tier = entry.tier;
		limitScope.windowId = entry.windowId;
		const limit: UsageLimit = {
			id: `${provider}:${entry.counterKey}:${entry.tierKey}:${entry.windowId}`,
			label: entry.counterName ? `Usage (${entry.counterName})` : "Usage",
			scope: limitScope,
			amount: entry.amount,
			status: statusOf(entry.amount.remainingFraction),
		};
		if (entry.window) limit.window = entry.window;
		limits.push(limit);
	}
	// Array.prototype.sort is stable: equal pressure keeps response order.
	return limits.sort((a, b) => (a.amount.remainingFraction ?? 1) - (b.amount.remainingFraction ?? 1));
}

function userAgent(version: string): string {
	const os = process.platform === "win32" ? "windows" : process.platform;
	const arch = process.arch === "x64" ? "amd64" : process.arch === "ia32" ? "386" : process.arch;
	return `antigravity/hub/${version} ${os}/${arch}`;
}

function isTransientStatus(status: number): boolean {
	return status === 408 || status === 429 || status >= 500;
}

/**
 * The Antigravity usage provider: `fetchAvailableModels` across the endpoint fallback list
 *. `null` on failure (including a network error at the last endpoint); throws only
 * when `params.signal` aborts.
 */
export function createAntigravityUsageProvider(options: AntigravityUsageProviderOptions = {}): UsageProvider {
	const configured = options.endpoints && options.endpoints.length > 0 ? options.endpoints : DEFAULT_ENDPOINTS;
	// The legacy name keeps old setups working; one warning per provider instance is enough to prompt
	// a rename without flooding logs on every usage fetch.
	let warnedLegacyEnv = false;
	const versionFromEnv = (ctx: UsageFetchContext): string | undefined => {
		const current = ctx.env.AUTHPOOL_ANTIGRAVITY_VERSION;
		if (current) return current;
		const legacy = ctx.env.PI_AI_ANTIGRAVITY_VERSION;
		if (!legacy) return undefined;
		if (!warnedLegacyEnv) {
			warnedLegacyEnv = true;
			ctx.logger.warn("PI_AI_ANTIGRAVITY_VERSION is deprecated; set AUTHPOOL_ANTIGRAVITY_VERSION instead", {});
		}
		return legacy;
	};
	return {
		cacheVersion: 2,
		supports: (params) => params.provider === PROVIDER,
		async fetchUsage(params: UsageFetchParams, ctx: UsageFetchContext): Promise<UsageReport | null> {
			if (params.provider !== PROVIDER) return null;
			const { credential, signal } = params;
			if (!credential.projectId || !credential.accessToken) return null;
			const now = ctx.clock.now();
			if (credential.expiresAt !== undefined && credential.expiresAt <= now) return null;

			const endpoints = params.baseUrl
				? [params.baseUrl.replace(/\/+$/, "")]
				: configured.map((e) => e.replace(/\/+$/, ""));
			const version = options.version ?? versionFromEnv(ctx) ?? DEFAULT_VERSION;
			let response: Response | undefined;
			let endpointUsed: string | undefined;
			for (const endpoint of endpoints) {
				try {
					response = await ctx.fetch(`${endpoint}/v1internal:fetchAvailableModels`, {
						method: "POST",
						headers: {
							Authorization: `Bearer ${credential.accessToken}`,
							"Content-Type": "application/json",
							"User-Agent": userAgent(version),
						},
						body: JSON.stringify({ project: credential.projectId }),
						signal,
					});
				} catch (error) {
					if (signal?.aborted) throw new AbortedError("usage fetch aborted");
					ctx.logger.debug("antigravity usage endpoint failed", { endpoint, error: (error as Error)?.name });
					response = undefined;
					continue;
				}
				endpointUsed = endpoint;
				if (response.ok || !isTransientStatus(response.status)) break;
			}
			if (!response?.ok || !endpointUsed) {
				ctx.logger.warn("antigravity usage fetch failed", { status: response?.status ?? 0 });
				return null;
			}
			let payload: unknown;
			try {
				payload = await response.json();
			} catch {
				if (signal?.aborted) throw new AbortedError("usage fetch aborted");
				ctx.logger.warn("antigravity usage response is not JSON", { endpoint: endpointUsed });
				return null;
			}

			const metadata: Record<string, unknown> = { endpoint: endpointUsed, projectId: credential.projectId };
			if (credential.email) metadata.email = credential.email;
			if (credential.accountId) metadata.accountId = credential.accountId;
			return {
				provider: PROVIDER,
				fetchedAt: now,
				limits: parseAntigravityModels(
					payload,
					{
						provider: PROVIDER,
						projectId: credential.projectId,
						...(credential.accountId ? { accountId: credential.accountId } : {}),
					},
					now,
				),
				metadata,
				raw: payload,
			};
		},
	};
}
