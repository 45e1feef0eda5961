/**
 * Error classification: definitive OAuth failures, usage-limit outcomes,
 * rate-limit reasons, and HTTP statuses carried by errors.
 */
import { OAuthRefreshError } from "../errors";
import { isRecord } from "../usage/report";

const DEFINITIVE_PATTERN =
	/invalid_grant|invalid_token|unauthorized_client|invalid_client|\brevoked\b|refresh[\s_]?token.*expired/i;
const TRANSIENT_PATTERN =
	/timeout|network|fetch failed|ECONN(?:REFUSED|RESET)|ETIMEDOUT|EAI_AGAIN|socket hang up|\b(?:408|425|429|5\d{2})\b|rate.?limit|too many requests|temporar|unavailable|forbidden|permission_denied|cloudflare|captcha/i;

/**
 * Definitive OAuth failure (docs/refresh-protocol.md "Error classification"), judged on a message: only a
 * recognised OAuth error (code or revoked/expired refresh-token wording) is definitive. A bare 401/403, an
 * HTML page (WAF, geo block) or anything that looks transient is not: a proxy's refusal must not disable a
 * live credential.
 */
export function isDefinitiveOAuthFailureMessage(message: string): boolean {
	if (/<\s*(?:!doctype|html|body)\b/i.test(message)) return false;
	if (!DEFINITIVE_PATTERN.test(message)) return false;
	// "invalid_grant" etc. is the provider's own verdict; free wording loses to transient signals.
	return (
		/invalid_grant|invalid_token|unauthorized_client|invalid_client/i.test(message) || !TRANSIENT_PATTERN.test(message)
	);
}

/**
 * Is a refresh error definitive (the grant is dead: disable the row) or transient (retry later)?
 * An `OAuthRefreshError` says so itself; anything else is judged by its message.
 */
export function isDefinitiveRefreshFailure(error: unknown): boolean {
	if (OAuthRefreshError.isInstance(error)) return error.definitive;
	if (isRecord(error) && (error as { name?: unknown }).name === "AbortError") return false;
	return isDefinitiveOAuthFailureMessage(errorMessage(error));
}

export const USAGE_LIMIT_PATTERN =
	/usage.?limit|usage_limit_reached|usage_not_included|limit_reached|quota.?exceeded|quota.?reached|resource.?exhausted|exhausted your capacity|quota will reset|insufficient.?(?:balance|quota)/i;
export const ACCOUNT_RATE_LIMIT_PATTERN =
	/\baccount(?:'s)?\b[^\n]{0,80}\brate.?limit\b|\brate.?limit\b[^\n]{0,80}\baccount\b/i;

function isOpaqueMessage(message: string): boolean {
	const stripped = message.replace(/\b429\b/g, " ").replace(/\b(?:https?|status|error|code|response|message)\b/gi, " ");
	return !/[a-z0-9]{3,}/i.test(stripped);
}

export type RateLimitReason =
	| "QUOTA_EXHAUSTED"
	| "MODEL_CAPACITY_EXHAUSTED"
	| "RATE_LIMIT_EXCEEDED"
	| "SERVER_ERROR"
	| "UNKNOWN";

/** `parseRateLimitReason` (docs/refresh-protocol.md "Error classification"). */
export function parseRateLimitReason(message: string): RateLimitReason {
	const m = message.toLowerCase();
	if (m.includes("quota will reset") || m.includes("exhausted your capacity")) return "QUOTA_EXHAUSTED";
	if (
		m.includes("capacity") ||
		m.includes("overloaded") ||
		m.includes("529") ||
		m.includes("503") ||
		m.includes("resource exhausted")
	) {
		return "MODEL_CAPACITY_EXHAUSTED";
	}
	if (ACCOUNT_RATE_LIMIT_PATTERN.test(message)) return "QUOTA_EXHAUSTED";
	if (
		m.includes("per minute") ||
		m.includes("rate limit") ||
		m.includes("too many requests") ||
		m.includes("presque")
	) {
		return "RATE_LIMIT_EXCEEDED";
	}
	if (m.includes("exhausted") || m.includes("quota") || m.includes("usage limit") || /insufficient.?balance/i.test(m)) {
		return "QUOTA_EXHAUSTED";
	}
	if (m.includes("500") || m.includes("internal error") || m.includes("internal server error")) return "SERVER_ERROR";
	return "UNKNOWN";
}

/** Backoff for a rate-limit reason (`random` in [0,1) injected for determinism). */
export function rateLimitBackoffMs(reason: RateLimitReason, random: () => number = Math.random): number {
	switch (reason) {
		case "QUOTA_EXHAUSTED":
			return 30 * 60_000;
		case "RATE_LIMIT_EXCEEDED":
			return 30_000;
		case "MODEL_CAPACITY_EXHAUSTED":
			return 45_000 + Math.floor(random() * 30_000);
		case "SERVER_ERROR":
			return 20_000;
		default:
			return 30 * 60_000;
	}
}

/** `isUsageLimitOutcome` (docs/refresh-protocol.md "Error classification"). */
export function isUsageLimitOutcome(status?: number, message?: string): boolean {
	if (message && (USAGE_LIMIT_PATTERN.test(message) || ACCOUNT_RATE_LIMIT_PATTERN.test(message))) return true;
	if (status !== 429) return false;
	if (!message || isOpaqueMessage(message)) return true;
	return parseRateLimitReason(message) === "QUOTA_EXHAUSTED";
}

/** `String(error)`-like message without throwing. */
export function errorMessage(error: unknown): string {
	if (error instanceof Error) return error.message;
	if (typeof error === "string") return error;
	try {
		return String(error);
	} catch {
		return "unknown error";
	}
}

function statusField(value: unknown): number | undefined {
	if (!isRecord(value)) return undefined;
	for (const candidate of [
		value.status,
		value.statusCode,
		isRecord(value.response) ? value.response.status : undefined,
	]) {
		if (typeof candidate === "number" && candidate >= 100 && candidate <= 599) return candidate;
	}
	return undefined;
}

/** HTTP status carried by an error (fields, `cause` up to 2 levels, or the message). */
export function errorStatus(error: unknown): number | undefined {
	let current: unknown = error;
	for (let depth = 0; depth < 3 && current !== undefined; depth += 1) {
		const status = statusField(current);
		if (status !== undefined) return status;
		current = isRecord(current) || current instanceof Error ? (current as { cause?: unknown }).cause : undefined;
	}
	const message = errorMessage(error);
	const match =
		/\bstatus[:=]?\s*(\d{3})\b/i.exec(message) ??
		/\bhttp\s*(\d{3})\b/i.exec(message) ??
		/\b(?:error|failed)\s*[:=]?\s*(\d{3})\b/i.exec(message) ??
		/^(\d{3})\s+[A-Z][a-z]+/.exec(message) ??
		/\b(\d{3})\s+error\b/i.exec(message);
	if (match?.[1]) {
		const status = Number(match[1]);
		if (status >= 100 && status <= 599) return status;
	}
	return undefined;
}

/** 408, 429 or ≥ 500. */
export function isTransientStatus(status: number): boolean {
	return status === 408 || status === 429 || status >= 500;
}

/** Should the retry resolver refresh/rotate after this error? (401, or a usage-limit outcome.) */
export function isAuthRetryableError(error: unknown): boolean {
	const status = errorStatus(error);
	if (status === 401) return true;
	return isUsageLimitOutcome(status, errorMessage(error));
}
