import {
	isRecord,
	sleep,
	toNumber,
	type UsageCredential,
	type UsageFetchContext,
	type UsageFetchParams,
	type UsageLimit,
	type UsageProvider,
	type UsageReport,
} from "@authpool/core";
import { ANTHROPIC_BUCKETS, type AnthropicBucketKey, buildAnthropicLimit } from "./anthropic-limits";
import { parseAnthropicRateLimitHeaders } from "./anthropic-rate-limit-headers";

/** Default Claude OAuth API base (the usage and profile endpoints live under it). */
export const DEFAULT_ANTHROPIC_USAGE_BASE_URL = "https://api.anthropic.com/api/oauth";

/** Beta flags Claude Code sends to the usage endpoint. */
export const ANTHROPIC_USAGE_BETA =
	"claude-code-20250219,oauth-2025-04-20,interleaved-thinking-2025-05-14,redact-thinking-2026-02-12,context-management-2025-06-27,prompt-caching-scope-2026-01-05,mid-conversation-system-2026-04-07,advanced-tool-use-2025-11-20,effort-2025-11-24,extended-cache-ttl-2025-04-11";

const MAX_ATTEMPTS = 3;
const BASE_RETRY_DELAY_MS = 500;
const BUCKET_KEYS = Object.keys(ANTHROPIC_BUCKETS) as AnthropicBucketKey[];

export interface AnthropicUsageProviderOptions {
	/**
	 * Base used when a fetch carries no `baseUrl`, taken as is.
	 * @default "https://api.anthropic.com/api/oauth"
	 */
	usageBaseUrl?: string;
	/** @default "claude-cli/2.1.165 (external, cli)" */
	userAgent?: string;
}

/**
 * Map a caller's base URL (often the inference base, e.g. `https://api.anthropic.com/v1`) to the
 * Claude OAuth API base: kept when it already ends in `/api/oauth`; else a trailing `/v1` is
 * dropped and `/api/oauth` appended. Blank or unparseable → `fallback`.
 */
export function normalizeAnthropicUsageBaseUrl(override: string | undefined, fallback: string): string {
	const trimmed = override?.trim().replace(/\/+$/, "");
	if (!trimmed) return fallback;
	if (trimmed.endsWith("/api/oauth")) return trimmed;
	try {
		const url = new URL(trimmed);
		const path = url.pathname.replace(/\/+$/, "").replace(/\/v1$/, "");
		return `${url.origin}${path}/api/oauth`;
	} catch {
		return fallback;
	}
}

/** The limits in a `GET /api/oauth/usage` payload; a bucket counts only with a utilization. */
export function parseAnthropicUsageLimits(payload: unknown): UsageLimit[] {
	if (!isRecord(payload)) return [];
	const limits: UsageLimit[] = [];
	for (const key of BUCKET_KEYS) {
		const bucket = payload[key];
		if (!isRecord(bucket)) continue;
		const utilization = toNumber(bucket.utilization);
		if (utilization === undefined) continue;
		const resetsAt = typeof bucket.resets_at === "string" ? Date.parse(bucket.resets_at) : Number.NaN;
		limits.push(buildAnthropicLimit(key, utilization, Number.isFinite(resetsAt) ? resetsAt : undefined));
	}
	return limits;
}

function text(value: unknown): string | undefined {
	return typeof value === "string" && value.trim() !== "" ? value.trim() : undefined;
}

function nested(payload: Record<string, unknown>, key: string, field: string): string | undefined {
	const inner = payload[key];
	return isRecord(inner) ? text(inner[field]) : undefined;
}

/** Account id and email from a usage payload, in the reference's lookup order. */
export function anthropicUsageIdentity(payload: unknown): { accountId?: string; email?: string } {
	if (!isRecord(payload)) return {};
	const accountId =
		text(payload.account_id) ??
		text(payload.accountId) ??
		text(payload.user_id) ??
		text(payload.userId) ??
		text(payload.org_id) ??
		text(payload.orgId) ??
		nested(payload, "account", "uuid") ??
		nested(payload, "account", "id") ??
		nested(payload, "organization", "uuid") ??
		nested(payload, "organization", "id") ??
		nested(payload, "user", "uuid") ??
		nested(payload, "user", "id");
	const email =
		text(payload.email) ??
		text(payload.user_email) ??
		text(payload.userEmail) ??
		nested(payload, "account", "email") ??
		nested(payload, "user", "email");
	return { ...(accountId ? { accountId } : {}), ...(email ? { email } : {}) };
}

function isTransientStatus(status: number): boolean {
	return status === 408 || status === 429 || status >= 500;
}

/** `Retry-After` in ms (delta seconds or an HTTP date), `undefined` when absent or unreadable. */
function retryAfterMs(header: string | null, now: number): number | undefined {
	if (!header?.trim()) return undefined;
	const seconds = Number(header.trim());
	if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
	const at = Date.parse(header);
	return Number.isFinite(at) ? Math.max(0, at - now) : undefined;
}

function buildHeaders(accessToken: string, userAgent: string): Record<string, string> {
	return {
		accept: "application/json, text/plain, */*",
		"accept-encoding": "gzip, compress, deflate, br",
		"anthropic-beta": ANTHROPIC_USAGE_BETA,
		"content-type": "application/json",
		"user-agent": userAgent,
		connection: "keep-alive",
		authorization: `Bearer ${accessToken}`,
	};
}

interface PayloadResult {
	payload: Record<string, unknown> | null;
	orgId?: string;
}

async function fetchPayload(
	url: string,
	headers: Record<string, string>,
	ctx: UsageFetchContext,
	signal: AbortSignal | undefined,
): Promise<PayloadResult> {
	const result: PayloadResult = { payload: null };
	const wait = async (attempt: number, retryAfter: number | undefined): Promise<boolean> => {
		if (attempt >= MAX_ATTEMPTS - 1 || signal?.aborted) return false;
		const delay = Math.max(BASE_RETRY_DELAY_MS * 2 ** attempt, retryAfter ?? 0);
		try {
			await (ctx.retryWait ?? sleep)(delay, signal);
		} catch {
			return false;
		}
		return !signal?.aborted;
	};
	for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
		if (signal?.aborted) return { payload: null };
		let response: Response;
		let body: string;
		try {
			response = await ctx.fetch(url, { method: "GET", headers, ...(signal ? { signal } : {}) });
			body = response.ok ? await response.text() : "";
		} catch (error) {
			if (signal?.aborted) return { payload: null };
			ctx.logger.warn("anthropic usage fetch error", {
				error: error instanceof Error ? error.name : "Error",
				attempt,
			});
			if (!(await wait(attempt, undefined))) break;
			continue;
		}
		if (!response.ok) {
			const retryable = isTransientStatus(response.status);
			ctx.logger.warn("anthropic usage fetch failed", { status: response.status, attempt, retryable });
			void response.body?.cancel().catch(() => {});
			if (!retryable) return { payload: null };
			if (!(await wait(attempt, retryAfterMs(response.headers.get("retry-after"), ctx.clock.now())))) break;
			continue;
		}
		const orgId = text(response.headers.get("anthropic-organization-id"));
		if (orgId) result.orgId = orgId;
		let parsed: unknown;
		try {
			parsed = JSON.parse(body);
		} catch {
			parsed = undefined;
		}
		if (isRecord(parsed)) {
			result.payload = parsed;
			if (parseAnthropicUsageLimits(parsed).length > 0) return result;
		}
		ctx.logger.warn("anthropic usage response has no usage bucket", { attempt });
		if (!(await wait(attempt, undefined))) break;
	}
	return result;
}

async function fetchProfile(
	url: string,
	headers: Record<string, string>,
	ctx: UsageFetchContext,
	signal: AbortSignal | undefined,
): Promise<{ accountId?: string; email?: string }> {
	try {
		const response = await ctx.fetch(url, { method: "GET", headers, ...(signal ? { signal } : {}) });
		if (!response.ok) {
			void response.body?.cancel().catch(() => {});
			return {};
		}
		const profile: unknown = await response.json();
		if (!isRecord(profile)) return {};
		const accountId = text(profile.uuid) ?? nested(profile, "account", "uuid");
		const email = text(profile.email) ?? nested(profile, "account", "email");
		return { ...(accountId ? { accountId } : {}), ...(email ? { email } : {}) };
	} catch {
		return {};
	}
}

function supports(params: UsageFetchParams): boolean {
	return params.provider === "anthropic" && params.credential.type === "oauth";
}

/**
 * Claude subscription usage: `GET {base}/usage` with up to 3 attempts
 * (backoff `max(500·2ⁿ ms, Retry-After)`, retrying transient statuses, bucket-less bodies and
 * network errors), then `GET {base}/profile` when the account id or email is still unknown.
 * Returns `null` on failure or abort, never throws.
 *
 * @example
 * const usage = createAnthropicUsageProvider({ usageBaseUrl: "http://127.0.0.1:4000/api/oauth" });
 */
export function createAnthropicUsageProvider(options: AnthropicUsageProviderOptions = {}): UsageProvider {
	const defaultBase = (options.usageBaseUrl ?? DEFAULT_ANTHROPIC_USAGE_BASE_URL).replace(/\/+$/, "");
	const userAgent = options.userAgent ?? "claude-cli/2.1.165 (external, cli)";
	return {
		supports,
		parseRateLimitHeaders: parseAnthropicRateLimitHeaders,
		async fetchUsage(params, ctx): Promise<UsageReport | null> {
			if (!supports(params)) return null;
			const credential: UsageCredential = params.credential;
			if (!credential.accessToken) return null;
			const signal = params.signal;
			const base = normalizeAnthropicUsageBaseUrl(params.baseUrl, defaultBase);
			const headers = buildHeaders(credential.accessToken, userAgent);
			const url = `${base}/usage`;
			const { payload, orgId } = await fetchPayload(url, headers, ctx, signal);
			if (!payload || signal?.aborted) return null;
			const limits = parseAnthropicUsageLimits(payload);
			if (limits.length === 0) return null;
			const identity = anthropicUsageIdentity(payload);
			let accountId = identity.accountId ?? orgId ?? text(credential.accountId);
			let email = identity.email ?? text(credential.email);
			if (!accountId || !email) {
				const profile = await fetchProfile(`${base}/profile`, headers, ctx, signal);
				if (signal?.aborted) return null;
				accountId ??= profile.accountId;
				email ??= profile.email;
			}
			return {
				provider: "anthropic",
				fetchedAt: ctx.clock.now(),
				limits,
				metadata: {
					endpoint: url,
					...(accountId ? { accountId } : {}),
					...(email ? { email } : {}),
					...(orgId ? { orgId } : {}),
				},
				raw: payload,
			};
		},
	};
}
