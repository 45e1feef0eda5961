/**
 * Usage payloads per provider, shaped like the real providers' responses, computed from an account's
 * usage knobs and the fake clock.
 */
import type { AccountRecord, FakeWorld, ResolvedWindow } from "./fake-world";
import { FIVE_HOURS_MS } from "./fake-world";

const iso = (ms: number) => new Date(ms).toISOString();
const round2 = (n: number) => Math.round(n * 100) / 100;
const remainingFraction = (w: ResolvedWindow) =>
	Math.round(Math.min(1, Math.max(0, 1 - w.usedPercent / 100)) * 1e6) / 1e6;

function bucketWindows(world: FakeWorld, record: AccountRecord): Array<[string, ResolvedWindow | undefined]> {
	const base = world.primary(record);
	const buckets = record.usage.buckets ?? {};
	return Object.entries(buckets).map(([key, bucket]) => [
		key,
		bucket ? world.resolve(bucket, base?.resetsAt ?? world.now() + record.windowMs, record.windowMs) : undefined,
	]);
}

/** anthropic `GET /api/oauth/usage`. */
export function anthropicUsage(world: FakeWorld, record: AccountRecord): unknown {
	const bucket = (w: ResolvedWindow | undefined) =>
		w ? { utilization: round2(w.usedPercent), resets_at: iso(w.resetsAt) } : null;
	const extra = new Map(bucketWindows(world, record));
	return {
		five_hour: bucket(world.primary(record)),
		seven_day: bucket(world.secondary(record)),
		seven_day_opus: bucket(extra.get("opus")),
		seven_day_sonnet: bucket(extra.get("sonnet")),
	};
}

function codexWindow(world: FakeWorld, w: ResolvedWindow | undefined): unknown {
	if (!w) return null;
	return {
		used_percent: round2(w.usedPercent),
		limit_window_seconds: Math.round(w.windowMs / 1000),
		reset_after_seconds: Math.max(0, Math.round((w.resetsAt - world.now()) / 1000)),
		reset_at: Math.floor(w.resetsAt / 1000),
	};
}

function codexBlock(world: FakeWorld, primary?: ResolvedWindow, secondary?: ResolvedWindow) {
	const reached = (primary?.usedPercent ?? 0) >= 100 || (secondary?.usedPercent ?? 0) >= 100;
	const block: Record<string, unknown> = {
		allowed: !reached,
		limit_reached: reached,
		primary_window: codexWindow(world, primary),
	};
	if (secondary !== undefined) block.secondary_window = codexWindow(world, secondary);
	return block;
}

/** openai-codex `GET /backend-api/wham/usage`. */
export function codexUsage(world: FakeWorld, record: AccountRecord): unknown {
	return {
		plan_type: record.plan ?? "plus",
		rate_limit: codexBlock(world, world.primary(record), world.secondary(record)),
		additional_rate_limits: bucketWindows(world, record)
			.filter(([, w]) => w !== undefined)
			.map(([name, w]) => ({ limit_name: name, metered_feature: name, rate_limit: codexBlock(world, w) })),
		rate_limit_reset_credits: { available_count: availableCredits(record) },
	};
}

function availableCredits(record: AccountRecord): number {
	return record.credits.filter((c) => c.status === "available").length;
}

/** openai-codex `GET /backend-api/wham/rate-limit-reset-credits`. */
export function codexResetCredits(record: AccountRecord): unknown {
	return {
		available_count: availableCredits(record),
		credits: record.credits.map((c) => ({
			id: c.id,
			reset_type: "codex_rate_limits",
			status: c.status,
			granted_at: iso(c.grantedAt),
			expires_at: iso(c.expiresAt),
			redeem_started_at: c.redeemedAt === undefined ? null : iso(c.redeemedAt),
			redeemed_at: c.redeemedAt === undefined ? null : iso(c.redeemedAt),
			title: "One free rate limit reset",
			description: "Reset your Codex usage limits once.",
		})),
	};
}

const GEMINI_DEFAULT_MODELS = ["gemini-2.5-pro", "gemini-2.5-flash"];

/** google-gemini-cli `POST /v1internal:retrieveUserQuota`. */
export function geminiQuota(world: FakeWorld, record: AccountRecord): unknown {
	const primary = world.primary(record);
	const explicit = bucketWindows(world, record);
	const entries: Array<[string, ResolvedWindow | undefined]> =
		explicit.length > 0 ? explicit : GEMINI_DEFAULT_MODELS.map((m) => [m, primary]);
	return {
		buckets: entries
			.filter(([, w]) => w !== undefined)
			.map(([modelId, w]) => ({
				modelId,
				tokenType: "REQUESTS",
				remainingFraction: remainingFraction(w as ResolvedWindow),
				resetTime: iso((w as ResolvedWindow).resetsAt),
			})),
	};
}

/** gemini-cli / antigravity `POST /v1internal:loadCodeAssist`. */
export function loadCodeAssist(record: AccountRecord): unknown {
	const tier = record.plan ?? "free-tier";
	return {
		cloudaicompanionProject: record.projectId,
		currentTier: { id: tier, name: tier === "free-tier" ? "Gemini Code Assist for individuals" : tier },
		allowedTiers: [{ id: tier, name: tier, isDefault: true }],
	};
}

const ANTIGRAVITY_DEFAULT_MODELS = ["gemini-3.1-pro", "claude-sonnet-4-6"];

function modelProviderOf(modelId: string): string | undefined {
	if (modelId.startsWith("claude-")) return "MODEL_PROVIDER_ANTHROPIC";
	if (modelId.startsWith("gemini-") || modelId.startsWith("gemma-")) return "MODEL_PROVIDER_GOOGLE";
	if (modelId.startsWith("gpt-") || modelId.startsWith("openai/")) return "MODEL_PROVIDER_OPENAI";
	return undefined;
}

/** google-antigravity `POST /v1internal:fetchAvailableModels`. */
export function antigravityModels(world: FakeWorld, record: AccountRecord): unknown {
	const primary = world.primary(record);
	const weekly = record.usage.secondary ? world.secondary(record) : undefined;
	const explicit = bucketWindows(world, record);
	const entries: Array<[string, ResolvedWindow | undefined]> =
		explicit.length > 0 ? explicit : ANTIGRAVITY_DEFAULT_MODELS.map((m) => [m, primary]);
	const models: Record<string, unknown> = {};
	for (const [modelId, w] of entries) {
		const info: Record<string, unknown> = { displayName: modelId };
		const provider = modelProviderOf(modelId);
		if (provider) info.modelProvider = provider;
		if (w) info.quotaInfo = { remainingFraction: remainingFraction(w), resetTime: iso(w.resetsAt) };
		if (weekly)
			info.weeklyQuotaInfo = { remainingFraction: remainingFraction(weekly), resetTime: iso(weekly.resetsAt) };
		models[modelId] = info;
	}
	return { models };
}

function copilotPremium(world: FakeWorld, record: AccountRecord) {
	const primary = world.primary(record);
	const entitlement = record.usage.entitlement ?? 300;
	if (!primary) return undefined;
	const remaining = Math.max(0, Math.round(entitlement * (1 - primary.usedPercent / 100)));
	return { primary, entitlement, remaining };
}

/** github-copilot `GET /copilot_internal/user`. */
export function copilotUser(world: FakeWorld, record: AccountRecord, apiBase: string): unknown {
	const premium = copilotPremium(world, record);
	const unlimited = (quotaId: string) => ({
		entitlement: 0,
		remaining: 0,
		percent_remaining: 100,
		unlimited: true,
		overage_count: 0,
		overage_permitted: false,
		quota_id: quotaId,
		quota_remaining: 0,
	});
	const snapshots: Record<string, unknown> = { chat: unlimited("chat"), completions: unlimited("completions") };
	if (premium) {
		snapshots.premium_interactions = {
			entitlement: premium.entitlement,
			remaining: premium.remaining,
			percent_remaining: premium.entitlement > 0 ? round2((premium.remaining / premium.entitlement) * 100) : 0,
			unlimited: false,
			overage_count: 0,
			overage_permitted: true,
			quota_id: "premium_interactions",
			quota_remaining: premium.remaining,
		};
	}
	return {
		login: record.accountId,
		copilot_plan: record.plan ?? "individual",
		quota_reset_date: iso(premium?.primary.resetsAt ?? world.now() + record.windowMs),
		quota_snapshots: snapshots,
		endpoints: { api: apiBase },
	};
}

/** github-copilot `GET /user`. */
export function githubUser(record: AccountRecord): unknown {
	return { login: record.accountId, id: 1000 + record.ordinal, email: record.email ?? null, name: record.accountId };
}

/** github-copilot premium-request billing usage. */
export function copilotBilling(world: FakeWorld, record: AccountRecord): unknown {
	const premium = copilotPremium(world, record);
	const now = new Date(world.now());
	const used = premium ? premium.entitlement - premium.remaining : 0;
	return {
		timePeriod: { year: now.getUTCFullYear(), month: now.getUTCMonth() + 1 },
		user: record.accountId,
		usageItems: premium
			? [
					{
						product: "Copilot",
						sku: "Copilot Premium Request",
						model: "Claude Sonnet 4",
						unitType: "requests",
						pricePerUnit: 0.04,
						grossQuantity: used,
						grossAmount: round2(used * 0.04),
						discountQuantity: used,
						discountAmount: round2(used * 0.04),
						netQuantity: 0,
						netAmount: 0,
						limit: premium.entitlement,
					},
				]
			: [],
	};
}

/** kimi-code `GET /coding/v1/usages`. Numbers as strings, like the live API. */
export function kimiUsage(world: FakeWorld, record: AccountRecord): unknown {
	const primary = world.primary(record);
	const secondary = world.secondary(record);
	const body: Record<string, unknown> = {};
	if (secondary) {
		const limit = 2048;
		const used = Math.round((limit * secondary.usedPercent) / 100);
		body.usage = {
			limit: String(limit),
			used: String(used),
			remaining: String(Math.max(0, limit - used)),
			resetTime: iso(secondary.resetsAt),
		};
	}
	if (primary) {
		const limit = record.usage.entitlement ?? 200;
		const used = Math.round((limit * primary.usedPercent) / 100);
		body.limits = [
			{
				window: {
					duration: Math.round(primary.windowMs / 60_000),
					timeUnit: "TIME_UNIT_MINUTE",
					resetTime: iso(primary.resetsAt),
				},
				detail: {
					limit: String(limit),
					used: String(used),
					remaining: String(Math.max(0, limit - used)),
					resetTime: iso(primary.resetsAt),
				},
			},
		];
	} else body.limits = [];
	return body;
}

/** zai `GET /api/monitor/usage/quota/limit`. */
export function zaiQuota(world: FakeWorld, record: AccountRecord): unknown {
	const limits: unknown[] = [];
	const primary = world.primary(record);
	if (primary) {
		const hours = primary.windowMs % 3_600_000 === 0 ? primary.windowMs / 3_600_000 : FIVE_HOURS_MS / 3_600_000;
		limits.push({
			type: "TOKENS_LIMIT",
			unit: 3,
			number: hours,
			percentage: round2(primary.usedPercent),
			nextResetTime: primary.resetsAt,
		});
	}
	const secondary = world.secondary(record);
	if (secondary) {
		limits.push({
			type: "TOKENS_LIMIT",
			unit: 6,
			number: 1,
			percentage: round2(secondary.usedPercent),
			nextResetTime: secondary.resetsAt,
		});
	}
	const requests = new Map(bucketWindows(world, record)).get("requests");
	if (requests) {
		const usage = 1000;
		const used = Math.round((usage * requests.usedPercent) / 100);
		limits.push({
			type: "TIME_LIMIT",
			unit: 5,
			number: 1,
			usage,
			currentValue: used,
			remaining: Math.max(0, usage - used),
			percentage: round2(requests.usedPercent),
			nextResetTime: requests.resetsAt,
			usageDetails: [
				{ modelCode: "search-prime", usage: used },
				{ modelCode: "web-reader", usage: 0 },
				{ modelCode: "zread", usage: 0 },
			],
		});
	}
	return { code: 200, msg: "Operation successful", success: true, data: { limits } };
}

/** zai `GET /api/monitor/usage/model-usage` (opaque to clients; a plausible summary). */
export function zaiModelUsage(record: AccountRecord): unknown {
	return {
		code: 200,
		msg: "Operation successful",
		success: true,
		data: { totalUsage: { totalModelCallCount: record.inferences, totalTokensUsage: record.inferences * 1000 } },
	};
}
