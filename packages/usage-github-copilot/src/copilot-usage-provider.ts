import {
	AbortedError,
	isRecord,
	REMOTE_REFRESH_SENTINEL,
	toBoolean,
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

/** Options of `createCopilotUsageProvider`. */
export interface CopilotUsageProviderOptions {
	/** REST base when neither `baseUrl` nor `enterpriseUrl` decides it. @default "https://api.github.com" */
	githubApiBaseUrl?: string;
}

const PROVIDER = "github-copilot";
const DEFAULT_API_BASE = "https://api.github.com";
const USER_AGENT = "opencode/1.3.15";

/**
 * The GitHub REST base for a credential: the caller's `baseUrl` unless it is a Copilot inference host,
 * else one derived from `enterpriseUrl` (`https://api.<domain>`), else `fallback`.
 */
export function resolveGithubApiBaseUrl(
	baseUrl: string | undefined,
	enterpriseUrl: string | undefined,
	fallback: string = DEFAULT_API_BASE,
): string {
	const base = baseUrl?.replace(/\/$/, "");
	if (base && !base.includes("githubcopilot.com")) return base;
	const enterprise = enterpriseUrl?.trim();
	if (!enterprise) return fallback.replace(/\/$/, "");
	if (enterprise.startsWith("http://") || enterprise.startsWith("https://")) return enterprise.replace(/\/$/, "");
	if (enterprise.startsWith("api.")) return `https://${enterprise}`;
	return `https://api.${enterprise}`;
}

interface QuotaSnapshot {
	entitlement: number;
	remaining: number;
	unlimited: boolean;
	overageCount: number;
}

/** A snapshot counts only with entitlement, remaining, percent_remaining and unlimited all present. */
function parseSnapshot(value: unknown): QuotaSnapshot | undefined {
	if (!isRecord(value)) return undefined;
	const entitlement = toNumber(value.entitlement);
	const remaining = toNumber(value.remaining);
	const percentRemaining = toNumber(value.percent_remaining);
	const unlimited = toBoolean(value.unlimited);
	if (
		entitlement === undefined ||
		remaining === undefined ||
		percentRemaining === undefined ||
		unlimited === undefined
	) {
		return undefined;
	}
	return { entitlement, remaining, unlimited, overageCount: toNumber(value.overage_count) ?? 0 };
}

function requestsAmount(used: number | undefined, limit: number | undefined): UsageAmount {
	const amount: UsageAmount = { unit: "requests" };
	if (used !== undefined) amount.used = used;
	if (limit !== undefined) amount.limit = limit;
	if (used === undefined || limit === undefined) return amount;
	const remaining = Math.max(0, limit - used);
	amount.remaining = remaining;
	if (limit > 0) {
		amount.usedFraction = used / limit;
		amount.remainingFraction = remaining / limit;
	}
	return amount;
}

function statusOf(amount: UsageAmount, unlimited: boolean): UsageStatus {
	if (unlimited) return "ok";
	if (amount.remainingFraction === undefined) return "unknown";
	if (amount.remainingFraction <= 0) return "exhausted";
	if (amount.remainingFraction <= 0.1) return "warning";
	return "ok";
}

function monthlyWindow(resetDate: unknown): UsageWindow | undefined {
	if (typeof resetDate !== "string" || !resetDate) return undefined;
	const resetsAt = Date.parse(resetDate);
	if (!Number.isFinite(resetsAt)) return undefined;
	return { id: "monthly", label: "Monthly", resetsAt };
}

/**
 * Map a `copilot_internal/user` response to limits: `copilot:premium` always (when its snapshot is
 * complete), `copilot:chat` / `copilot:completions` only when they are not unlimited.
 */
export function parseCopilotInternalUser(payload: unknown, accountId?: string): UsageLimit[] {
	if (!isRecord(payload)) return [];
	const plan = typeof payload.copilot_plan === "string" ? payload.copilot_plan : undefined;
	const window = monthlyWindow(payload.quota_reset_date);
	const snapshots = isRecord(payload.quota_snapshots) ? payload.quota_snapshots : {};
	const limits: UsageLimit[] = [];
	const add = (key: string, label: string, snapshot: QuotaSnapshot): void => {
		const used = snapshot.unlimited ? undefined : Math.max(0, snapshot.entitlement - snapshot.remaining);
		const amount = requestsAmount(used, snapshot.unlimited ? undefined : snapshot.entitlement);
		const scope: UsageScope = { provider: PROVIDER };
		if (accountId) scope.accountId = accountId;
		if (plan) scope.tier = plan;
		if (window) scope.windowId = window.id;
		const notes: string[] = [];
		if (snapshot.unlimited) notes.push("Unlimited");
		if (snapshot.overageCount > 0) notes.push(`Overage requests: ${snapshot.overageCount}`);
		const limit: UsageLimit = {
			id: `copilot:${key}`,
			label,
			scope,
			amount,
			status: statusOf(amount, snapshot.unlimited),
		};
		if (window) limit.window = window;
		if (notes.length > 0) limit.notes = notes;
		limits.push(limit);
	};
	const premium = parseSnapshot(snapshots.premium_interactions);
	if (premium) add("premium", "Premium Requests", premium);
	const chat = parseSnapshot(snapshots.chat);
	if (chat && !chat.unlimited) add("chat", "Chat Requests", chat);
	const completions = parseSnapshot(snapshots.completions);
	if (completions && !completions.unlimited) add("completions", "Completions", completions);
	return limits;
}

/** Billing period of a premium-request usage response, `YYYY-MM` (or `YYYY`). */
function billingPeriodLabel(timePeriod: unknown): string | undefined {
	if (!isRecord(timePeriod)) return undefined;
	const year = toNumber(timePeriod.year);
	if (year === undefined) return undefined;
	const month = toNumber(timePeriod.month);
	return month ? `${year}-${String(month).padStart(2, "0")}` : `${year}`;
}

/**
 * Map a billing `premium_request/usage` response to limits: `copilot:premium` (sum over premium SKUs)
 * and one `copilot:model:<model>` per model with usage. `null` when the body is not a usage report.
 */
export function parseCopilotBillingUsage(payload: unknown): UsageLimit[] | null {
	if (!isRecord(payload) || !Array.isArray(payload.usageItems)) return null;
	const label = billingPeriodLabel(payload.timePeriod);
	if (!label) return null;
	const user = typeof payload.user === "string" ? payload.user : undefined;
	const window: UsageWindow = { id: "billing-period", label };
	const items = payload.usageItems.filter(isRecord);
	const scopeFor = (modelId?: string): UsageScope => {
		const scope: UsageScope = { provider: PROVIDER };
		if (user) scope.accountId = user;
		if (modelId) scope.modelId = modelId;
		scope.windowId = window.id;
		return scope;
	};

	const premium = items.filter(
		(item) => typeof item.sku === "string" && (item.sku === "Copilot Premium Request" || item.sku.includes("Premium")),
	);
	const used = premium.reduce((sum, item) => sum + (toNumber(item.grossQuantity) ?? 0), 0);
	const cap = premium.reduce((sum, item) => sum + (toNumber(item.limit) ?? 0), 0) || undefined;
	const totalAmount = requestsAmount(used, cap);
	const limits: UsageLimit[] = [
		{
			id: "copilot:premium",
			label: "Premium Requests",
			scope: scopeFor(),
			window,
			amount: totalAmount,
			status: statusOf(totalAmount, false),
		},
	];
	for (const item of items) {
		const model = typeof item.model === "string" && item.model ? item.model : undefined;
		const gross = toNumber(item.grossQuantity) ?? 0;
		if (!model || gross <= 0) continue;
		const amount = requestsAmount(gross, toNumber(item.limit));
		limits.push({
			id: `copilot:model:${model}`,
			label: `Model ${model}`,
			scope: scopeFor(model),
			window,
			amount,
			status: statusOf(amount, false),
		});
	}
	return limits;
}

function restHeaders(token: string): Record<string, string> {
	return {
		Accept: "application/vnd.github+json",
		Authorization: `Bearer ${token}`,
		"X-GitHub-Api-Version": "2022-11-28",
	};
}

async function getJson(ctx: UsageFetchContext, url: string, init: RequestInit): Promise<unknown> {
	const response = await ctx.fetch(url, init);
	if (!response.ok) {
		// Status only: GitHub error bodies can echo request details.
		throw new Error(`HTTP ${response.status}`);
	}
	return response.json();
}

/** `GET /user` → `login`, or `undefined` on any failure. */
async function githubLogin(
	ctx: UsageFetchContext,
	api: string,
	token: string,
	signal: AbortSignal | undefined,
): Promise<string | undefined> {
	try {
		const data = await getJson(ctx, `${api}/user`, { headers: restHeaders(token), signal });
		return isRecord(data) && typeof data.login === "string" && data.login ? data.login : undefined;
	} catch {
		if (signal?.aborted) throw new AbortedError("usage fetch aborted");
		return undefined;
	}
}

function internalUserRequest(token: string, signal: AbortSignal | undefined): RequestInit {
	return {
		headers: {
			"Content-Type": "application/json",
			Accept: "application/json",
			Authorization: `Bearer ${token}`,
			"User-Agent": USER_AGENT,
		},
		signal,
	};
}

function usable(token: string | undefined): string | undefined {
	// Behind a broker the refresh slot holds a sentinel; the access token is the same GitHub token.
	return token && token !== REMOTE_REFRESH_SENTINEL ? token : undefined;
}

/**
 * The GitHub Copilot usage provider: OAuth credentials read
 * `copilot_internal/user`; API keys read the billing premium-request usage (falling back to
 * `copilot_internal/user`). No retry; `null` on failure; throws only when `params.signal` aborts.
 */
export function createCopilotUsageProvider(options: CopilotUsageProviderOptions = {}): UsageProvider {
	const supports = (params: UsageFetchParams): boolean => {
		if (params.provider !== PROVIDER) return false;
		const { credential } = params;
		if (credential.type === "oauth") return Boolean(credential.refreshToken || credential.accessToken);
		return Boolean(credential.apiKey);
	};

	return {
		supports,
		async fetchUsage(params: UsageFetchParams, ctx: UsageFetchContext): Promise<UsageReport | null> {
			if (!supports(params)) return null;
			const { credential, signal } = params;
			const now = ctx.clock.now();
			const api = resolveGithubApiBaseUrl(params.baseUrl, credential.enterpriseUrl, options.githubApiBaseUrl);
			const fail = (error: unknown): null => {
				if (signal?.aborted) throw new AbortedError("usage fetch aborted");
				ctx.logger.warn("copilot usage fetch failed", { error: error instanceof Error ? error.message : "error" });
				return null;
			};

			if (credential.type === "api_key") {
				const key = credential.apiKey as string;
				const candidate = credential.accountId || credential.metadata?.username || credential.metadata?.user;
				let username = typeof candidate === "string" && candidate.trim() ? candidate.trim() : undefined;
				username ??= await githubLogin(ctx, api, key, signal);
				if (username) {
					try {
						const payload = await getJson(
							ctx,
							`${api}/users/${encodeURIComponent(username)}/settings/billing/premium_request/usage`,
							{ headers: restHeaders(key), signal },
						);
						const limits = parseCopilotBillingUsage(payload);
						if (limits && isRecord(payload)) {
							const account = typeof payload.user === "string" ? payload.user : username;
							return {
								provider: PROVIDER,
								fetchedAt: now,
								limits,
								metadata: { accountId: account, account, period: payload.timePeriod },
							};
						}
					} catch (error) {
						if (signal?.aborted) throw new AbortedError("usage fetch aborted");
						ctx.logger.debug("copilot billing usage failed; trying copilot_internal/user", {
							error: error instanceof Error ? error.message : "error",
						});
					}
				} else {
					ctx.logger.debug("copilot billing usage needs a username; trying copilot_internal/user");
				}
				try {
					const payload = await getJson(ctx, `${api}/copilot_internal/user`, internalUserRequest(key, signal));
					return internalReport(payload, now, username, undefined);
				} catch (error) {
					return fail(error);
				}
			}

			const token = usable(credential.refreshToken) ?? usable(credential.accessToken);
			if (!token) return null;
			try {
				const payload = await getJson(ctx, `${api}/copilot_internal/user`, internalUserRequest(token, signal));
				const accountId = credential.accountId || (await githubLogin(ctx, api, token, signal));
				return internalReport(payload, now, accountId, credential.email);
			} catch (error) {
				return fail(error);
			}
		},
	};
}

function internalReport(
	payload: unknown,
	now: number,
	accountId: string | undefined,
	email: string | undefined,
): UsageReport | null {
	if (!isRecord(payload)) throw new Error("copilot_internal/user response is not an object");
	const metadata: Record<string, unknown> = {};
	if (accountId) metadata.accountId = accountId;
	if (email) metadata.email = email;
	if (typeof payload.copilot_plan === "string") metadata.plan = payload.copilot_plan;
	if (payload.quota_reset_date !== undefined) metadata.quotaResetDate = payload.quota_reset_date;
	return {
		provider: PROVIDER,
		fetchedAt: now,
		limits: parseCopilotInternalUser(payload, accountId),
		metadata,
		raw: payload,
	};
}
