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
	type UsageWindow,
} from "@authpool/core";

/** Options of `createGeminiUsageProvider`. */
export interface GeminiUsageProviderOptions {
	/** Code Assist base used when the caller passes no `baseUrl`. @default "https://cloudcode-pa.googleapis.com" */
	codeAssistBaseUrl?: string;
	/** Version in the `User-Agent`. @default env `AUTHPOOL_GEMINI_CLI_VERSION` (legacy `PI_AI_GEMINI_CLI_VERSION` still read, deprecated), else "0.46.0" */
	cliVersion?: string;
}

const DEFAULT_BASE_URL = "https://cloudcode-pa.googleapis.com";
const DEFAULT_CLI_VERSION = "0.46.0";
const CLIENT_METADATA = { ideType: "IDE_UNSPECIFIED", platform: "PLATFORM_UNSPECIFIED", pluginType: "GEMINI" };

const TIER_BY_MODEL: ReadonlyArray<{ tier: string; models: readonly string[] }> = [
	{ tier: "3-Flash", models: ["gemini-3-flash-preview", "gemini-3-flash", "gemini-3.5-flash"] },
	{ tier: "Flash", models: ["gemini-2.5-flash", "gemini-2.5-flash-lite", "gemini-2.0-flash", "gemini-1.5-flash"] },
	{
		tier: "Pro",
		models: [
			"gemini-2.5-pro",
			"gemini-3-pro-preview",
			"gemini-3.1-pro-preview",
			"gemini-3-pro",
			"gemini-3.1-pro",
			"gemini-pro-agent",
			"gemini-1.5-pro",
		],
	},
];

/** Quota tier of a Gemini model id (`3-Flash`, `Flash`, `Pro`), by exact id first, then by substring. */
export function geminiModelTier(modelId: string): string | undefined {
	for (const entry of TIER_BY_MODEL) {
		if (entry.models.includes(modelId)) return entry.tier;
	}
	const normalized = modelId.toLowerCase();
	if (normalized.includes("flash")) return "Flash";
	if (normalized.includes("pro")) return "Pro";
	return undefined;
}

/** What `loadCodeAssist` tells us: the Code Assist project and the user's tier. */
export interface GeminiCodeAssistInfo {
	projectId?: string;
	currentTierId?: string;
	currentTierName?: string;
}

/** Read a `loadCodeAssist` response (`cloudaicompanionProject` is a string or `{id}`). */
export function parseLoadCodeAssist(payload: unknown): GeminiCodeAssistInfo {
	if (!isRecord(payload)) return {};
	const info: GeminiCodeAssistInfo = {};
	const project = payload.cloudaicompanionProject;
	if (typeof project === "string" && project) info.projectId = project;
	else if (isRecord(project) && typeof project.id === "string" && project.id) info.projectId = project.id;
	const tier = payload.currentTier;
	if (isRecord(tier)) {
		if (typeof tier.id === "string") info.currentTierId = tier.id;
		if (typeof tier.name === "string") info.currentTierName = tier.name;
	}
	return info;
}

function round1(value: number): number {
	return Math.round(value * 10) / 10;
}

function quotaWindow(resetTime: unknown): UsageWindow {
	const resetsAt = typeof resetTime === "string" ? Date.parse(resetTime) : Number.NaN;
	if (!Number.isFinite(resetsAt)) return { id: "quota", label: "Quota window" };
	return { id: `reset-${resetsAt}`, label: "Quota window", resetsAt };
}

function quotaAmount(remainingFraction: number | undefined): UsageAmount {
	if (remainingFraction === undefined) return { unit: "percent" };
	const remaining = clamp(remainingFraction, 0, 1);
	const used = 1 - remaining;
	return {
		unit: "percent",
		used: round1(used * 100),
		remaining: round1(remaining * 100),
		limit: 100,
		usedFraction: used,
		remainingFraction: remaining,
	};
}

/** Identity copied into every limit's scope. */
export interface GeminiQuotaScope {
	provider: string;
	accountId?: string;
	projectId?: string;
}

/**
 * Map a `retrieveUserQuota` response to limits: one per bucket, id `<modelId>:<windowId>`, no status
 * (the buckets carry only a remaining fraction).
 */
export function parseGeminiQuotaBuckets(payload: unknown, scope: GeminiQuotaScope): UsageLimit[] {
	if (!isRecord(payload) || !Array.isArray(payload.buckets)) return [];
	const limits: UsageLimit[] = [];
	for (const bucket of payload.buckets) {
		if (!isRecord(bucket)) continue;
		const modelId = typeof bucket.modelId === "string" && bucket.modelId ? bucket.modelId : undefined;
		const window = quotaWindow(bucket.resetTime);
		const tier = modelId ? geminiModelTier(modelId) : undefined;
		const limitScope: UsageScope = { provider: scope.provider };
		if (scope.accountId) limitScope.accountId = scope.accountId;
		if (scope.projectId) limitScope.projectId = scope.projectId;
		if (modelId) limitScope.modelId = modelId;
		if (tier) limitScope.tier = tier;
		limitScope.windowId = window.id;
		limits.push({
			id: `${modelId ?? "unknown"}:${window.id}`,
			label: modelId ? `Gemini ${modelId}` : "Gemini quota",
			scope: limitScope,
			window,
			amount: quotaAmount(toNumber(bucket.remainingFraction)),
		});
	}
	return limits;
}

function userAgent(version: string): string {
	return `GeminiCLI/${version}/gemini-3.1-pro-preview (${process.platform}; ${process.arch}; terminal)`;
}

function throwIfAborted(signal: AbortSignal | undefined): void {
	if (signal?.aborted) throw new AbortedError("usage fetch aborted");
}

/**
 * The Gemini CLI usage provider: `loadCodeAssist` (project + tier, best effort) then
 * `retrieveUserQuota`. No retry; `null` on failure; throws only when
 * `params.signal` aborts.
 */
export function createGeminiUsageProvider(options: GeminiUsageProviderOptions = {}): UsageProvider {
	const supports = (params: UsageFetchParams): boolean =>
		params.credential.type === "oauth" && Boolean(params.credential.accessToken);

	// The legacy name keeps old setups working; one warning per provider instance is enough to prompt
	// a rename without flooding logs on every usage fetch.
	let warnedLegacyEnv = false;
	const versionFromEnv = (ctx: UsageFetchContext): string | undefined => {
		const current = ctx.env.AUTHPOOL_GEMINI_CLI_VERSION;
		if (current) return current;
		const legacy = ctx.env.PI_AI_GEMINI_CLI_VERSION;
		if (!legacy) return undefined;
		if (!warnedLegacyEnv) {
			warnedLegacyEnv = true;
			ctx.logger.warn("PI_AI_GEMINI_CLI_VERSION is deprecated; set AUTHPOOL_GEMINI_CLI_VERSION instead", {});
		}
		return legacy;
	};

	return {
		supports,
		async fetchUsage(params: UsageFetchParams, ctx: UsageFetchContext): Promise<UsageReport | null> {
			if (!supports(params)) return null;
			const { credential, signal } = params;
			const now = ctx.clock.now();
			// Only AuthStorage refreshes; an expired token would just earn a 401.
			if (credential.expiresAt !== undefined && credential.expiresAt <= now) return null;
			const base = (params.baseUrl ?? options.codeAssistBaseUrl ?? DEFAULT_BASE_URL).replace(/\/$/, "");
			const version = options.cliVersion ?? versionFromEnv(ctx) ?? DEFAULT_CLI_VERSION;
			const headers = {
				Authorization: `Bearer ${credential.accessToken}`,
				"Content-Type": "application/json",
				"User-Agent": userAgent(version),
				"Client-Metadata": "ideType=IDE_UNSPECIFIED,platform=PLATFORM_UNSPECIFIED,pluginType=GEMINI",
			};

			let assist: GeminiCodeAssistInfo = {};
			try {
				const body: Record<string, unknown> = { metadata: CLIENT_METADATA };
				if (credential.projectId) body.cloudaicompanionProject = credential.projectId;
				const response = await ctx.fetch(`${base}/v1internal:loadCodeAssist`, {
					method: "POST",
					headers,
					body: JSON.stringify(body),
					signal,
				});
				if (response.ok) assist = parseLoadCodeAssist(await response.json());
				else ctx.logger.debug("gemini loadCodeAssist failed", { status: response.status });
			} catch (error) {
				throwIfAborted(signal);
				ctx.logger.debug("gemini loadCodeAssist failed", { error: (error as Error)?.name });
			}

			const projectId = credential.projectId ?? assist.projectId;
			let payload: unknown;
			try {
				const response = await ctx.fetch(`${base}/v1internal:retrieveUserQuota`, {
					method: "POST",
					headers,
					body: JSON.stringify(projectId ? { project: projectId } : {}),
					signal,
				});
				if (!response.ok) {
					ctx.logger.warn("gemini quota fetch failed", { status: response.status });
					return null;
				}
				payload = await response.json();
			} catch (error) {
				throwIfAborted(signal);
				ctx.logger.warn("gemini quota fetch failed", { error: (error as Error)?.name });
				return null;
			}

			const metadata: Record<string, unknown> = {};
			if (assist.currentTierId !== undefined) metadata.currentTierId = assist.currentTierId;
			if (assist.currentTierName !== undefined) metadata.currentTierName = assist.currentTierName;
			return {
				provider: params.provider,
				fetchedAt: now,
				limits: parseGeminiQuotaBuckets(payload, {
					provider: params.provider,
					...(credential.accountId ? { accountId: credential.accountId } : {}),
					...(projectId ? { projectId } : {}),
				}),
				metadata,
				raw: payload,
			};
		},
	};
}
