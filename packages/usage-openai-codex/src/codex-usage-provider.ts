import {
	isRecord,
	toBoolean,
	toNumber,
	type UsageFetchParams,
	type UsageLimit,
	type UsageProvider,
	type UsageReport,
	type UsageResetCredits,
} from "@authpool/core";
import { DEFAULT_CODEX_USAGE_BASE_URL, normalizeCodexBaseUrl } from "./codex-base-url";
import { buildCodexLimit, type CodexWindowInput, type CodexWindowKey } from "./codex-limits";
import { parseCodexRateLimitHeaders } from "./codex-rate-limit-headers";
import { codexHeaders, codexIdentity } from "./codex-request-headers";
import { listCodexResetCredits } from "./codex-reset-credits";

export interface CodexUsageProviderOptions {
	/**
	 * Base used when a fetch carries no honoured `baseUrl`; taken as is.
	 * @default "https://chatgpt.com/backend-api"
	 */
	usageBaseUrl?: string;
}

const WINDOW_KEYS: ReadonlyArray<[CodexWindowKey, string]> = [
	["primary", "primary_window"],
	["secondary", "secondary_window"],
];

function parseWindow(value: unknown): CodexWindowInput | undefined {
	if (!isRecord(value)) return undefined;
	const window: CodexWindowInput = {};
	const usedPercent = toNumber(value.used_percent);
	const limitWindowSeconds = toNumber(value.limit_window_seconds);
	const resetAfterSeconds = toNumber(value.reset_after_seconds);
	const resetAt = toNumber(value.reset_at);
	if (usedPercent !== undefined) window.usedPercent = usedPercent;
	if (limitWindowSeconds !== undefined) window.limitWindowSeconds = limitWindowSeconds;
	if (resetAfterSeconds !== undefined) window.resetAfterSeconds = resetAfterSeconds;
	if (resetAt !== undefined) window.resetAt = resetAt;
	return Object.keys(window).length > 0 ? window : undefined;
}

/** Slug of an additional limit: `spark` for Spark/bengalfox meters, else a cleaned feature name. */
export function codexAdditionalSlug(limitName: string | undefined, meteredFeature: string | undefined): string {
	const probe = `${limitName ?? ""}${meteredFeature ?? ""}`.toLowerCase();
	if (probe.includes("spark") || probe.includes("bengalfox")) return "spark";
	const slug = (meteredFeature ?? limitName ?? "extra")
		.toLowerCase()
		.replace(/^codex[-_]/, "")
		.replace(/[^a-z0-9]+/g, "-")
		.replace(/^-+|-+$/g, "");
	return slug || "extra";
}

function displayName(slug: string, limitName: string | undefined): string {
	if (slug === "spark") return "Spark";
	if (limitName) return limitName;
	return slug
		.split("-")
		.map((word) => word.charAt(0).toUpperCase() + word.slice(1))
		.join(" ");
}

function blockLimits(
	block: Record<string, unknown>,
	base: { now: number; accountId?: string; tier?: string; slug?: string; displayName?: string; modelId?: string },
): UsageLimit[] {
	const limitReached = toBoolean(block.limit_reached);
	const limits: UsageLimit[] = [];
	for (const [key, field] of WINDOW_KEYS) {
		const window = parseWindow(block[field]);
		if (!window) continue;
		limits.push(buildCodexLimit({ ...base, key, window, ...(limitReached !== undefined ? { limitReached } : {}) }));
	}
	return limits;
}

/** What a `/wham/usage` body says, before any reset-credit lookup. */
export interface CodexUsageParseResult {
	limits: UsageLimit[];
	planType?: string;
	allowed?: boolean;
	limitReached?: boolean;
	resetCredits?: UsageResetCredits;
}

/**
 * Parse a `GET /backend-api/wham/usage` body into limits. `null` when the body
 * is not an object or carries neither `rate_limit` nor `additional_rate_limits`.
 */
export function parseCodexUsagePayload(
	payload: unknown,
	context: { now: number; accountId?: string },
): CodexUsageParseResult | null {
	if (!isRecord(payload)) return null;
	const rateLimit = isRecord(payload.rate_limit) ? payload.rate_limit : undefined;
	const additional = Array.isArray(payload.additional_rate_limits) ? payload.additional_rate_limits : [];
	if (!rateLimit && additional.length === 0) return null;
	const planType = typeof payload.plan_type === "string" ? payload.plan_type : undefined;
	const common = { now: context.now, ...(context.accountId ? { accountId: context.accountId } : {}) };
	const limits: UsageLimit[] = rateLimit
		? blockLimits(rateLimit, { ...common, ...(planType ? { tier: planType } : {}) })
		: [];
	for (const entry of additional) {
		if (!isRecord(entry) || !isRecord(entry.rate_limit)) continue;
		const limitName = typeof entry.limit_name === "string" ? entry.limit_name : undefined;
		const meteredFeature = typeof entry.metered_feature === "string" ? entry.metered_feature : undefined;
		const slug = codexAdditionalSlug(limitName, meteredFeature);
		limits.push(
			...blockLimits(entry.rate_limit, {
				...common,
				tier: slug,
				slug,
				displayName: displayName(slug, limitName),
				...(limitName ? { modelId: limitName } : {}),
			}),
		);
	}
	const result: CodexUsageParseResult = { limits };
	if (planType) result.planType = planType;
	const allowed = rateLimit ? toBoolean(rateLimit.allowed) : undefined;
	const limitReached = rateLimit ? toBoolean(rateLimit.limit_reached) : undefined;
	if (allowed !== undefined) result.allowed = allowed;
	if (limitReached !== undefined) result.limitReached = limitReached;
	const credits = isRecord(payload.rate_limit_reset_credits) ? payload.rate_limit_reset_credits : undefined;
	const count = credits ? toNumber(credits.available_count) : undefined;
	if (count !== undefined) result.resetCredits = { availableCount: Math.max(0, Math.trunc(count)) };
	return result;
}

function supports(params: UsageFetchParams): boolean {
	return params.provider === "openai-codex" && params.credential.type === "oauth";
}

/**
 * ChatGPT/Codex usage: `GET {base}/wham/usage`, no retry; when saved resets are
 * available, the reset-credit list refines them. Skips an expired token without a request.
 * Returns `null` on failure or abort, never throws.
 *
 * @example
 * const usage = createCodexUsageProvider({ usageBaseUrl: "http://127.0.0.1:4000/backend-api" });
 */
export function createCodexUsageProvider(options: CodexUsageProviderOptions = {}): UsageProvider {
	const defaultBase = (options.usageBaseUrl ?? DEFAULT_CODEX_USAGE_BASE_URL).replace(/\/+$/, "");
	return {
		supports,
		parseRateLimitHeaders: parseCodexRateLimitHeaders,
		async fetchUsage(params, ctx): Promise<UsageReport | null> {
			if (!supports(params)) return null;
			const credential = params.credential;
			const accessToken = credential.accessToken;
			if (!accessToken) return null;
			const now = ctx.clock.now();
			if (credential.expiresAt !== undefined && credential.expiresAt <= now) {
				ctx.logger.warn("openai-codex usage skipped: access token expired", {
					...(credential.email ? { email: credential.email } : {}),
				});
				return null;
			}
			const signal = params.signal;
			const base = normalizeCodexBaseUrl(params.baseUrl, defaultBase);
			const { accountId, email } = codexIdentity(accessToken, credential.accountId, credential.email);
			let payload: unknown;
			try {
				const response = await ctx.fetch(`${base}/wham/usage`, {
					method: "GET",
					headers: codexHeaders(accessToken, accountId),
					...(signal ? { signal } : {}),
				});
				if (!response.ok) {
					void response.body?.cancel().catch(() => {});
					ctx.logger.warn("openai-codex usage fetch failed", { status: response.status });
					return null;
				}
				payload = await response.json();
			} catch (error) {
				if (!signal?.aborted) {
					ctx.logger.warn("openai-codex usage fetch error", { error: error instanceof Error ? error.name : "Error" });
				}
				return null;
			}
			const parsed = parseCodexUsagePayload(payload, { now, ...(accountId ? { accountId } : {}) });
			if (!parsed) return null;
			let resetCredits = parsed.resetCredits;
			if (resetCredits && resetCredits.availableCount > 0) {
				const list = await listCodexResetCredits({
					accessToken,
					baseUrl: base,
					fetch: ctx.fetch,
					...(accountId ? { accountId } : {}),
					...(signal ? { signal } : {}),
				});
				if (list) {
					resetCredits = {
						availableCount: list.availableCount,
						credits: list.credits
							.filter((credit) => credit.status === undefined || credit.status === "available")
							.map((credit) => ({
								...(credit.grantedAt !== undefined ? { grantedAt: credit.grantedAt } : {}),
								...(credit.expiresAt !== undefined ? { expiresAt: credit.expiresAt } : {}),
								...(credit.status !== undefined ? { status: credit.status } : {}),
							})),
					};
				} else {
					ctx.logger.warn("openai-codex reset credit list failed");
				}
			}
			if (signal?.aborted) return null;
			const metadata: Record<string, unknown> = {};
			if (parsed.planType !== undefined) metadata.planType = parsed.planType;
			if (parsed.allowed !== undefined) metadata.allowed = parsed.allowed;
			if (parsed.limitReached !== undefined) metadata.limitReached = parsed.limitReached;
			if (email) metadata.email = email;
			if (accountId) metadata.accountId = accountId;
			return {
				provider: "openai-codex",
				fetchedAt: ctx.clock.now(),
				limits: parsed.limits,
				...(resetCredits ? { resetCredits } : {}),
				metadata,
				raw: payload,
			};
		},
	};
}
