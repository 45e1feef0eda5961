import { describe, expect, it } from "vitest";
import { OAuthRefreshError } from "../errors";
import {
	errorStatus,
	isAuthRetryableError,
	isDefinitiveOAuthFailureMessage,
	isDefinitiveRefreshFailure,
	isTransientStatus,
	isUsageLimitOutcome,
	parseRateLimitReason,
	rateLimitBackoffMs,
} from "./classify";

describe("isDefinitiveOAuthFailureMessage", () => {
	it.each([
		["invalid_grant", true],
		['status=400 body={"error":"invalid_grant"}', true],
		["token revoked by user", true],
		["refresh token has expired", true],
		["unauthorized_client", true],
		// A bare 401 is no OAuth verdict (proxies, WAFs and misrouted hosts answer it too).
		["HTTP 401 Unauthorized", false],
		["HTTP 403 <html><body>Access denied: your region is blocked</body></html>", false],
		["<!DOCTYPE html><title>refresh token revoked?</title>", false],
		["invalid_client", true],
		["invalid_grant (timeout on retry)", true],
		["401 from a timeout proxy", false],
		["fetch failed (ECONNRESET)", false],
		["HTTP 503 Service Unavailable", false],
		["403 forbidden by cloudflare", false],
		["internal error", false],
	])("%s → %s", (message, expected) => {
		expect(isDefinitiveOAuthFailureMessage(message)).toBe(expected);
	});

	it("trusts OAuthRefreshError.definitive over the message", () => {
		expect(
			isDefinitiveRefreshFailure(new OAuthRefreshError("invalid_grant", { provider: "p", definitive: false })),
		).toBe(false);
		expect(isDefinitiveRefreshFailure(new OAuthRefreshError("blip", { provider: "p", definitive: true }))).toBe(true);
		expect(isDefinitiveRefreshFailure(new Error("invalid_grant"))).toBe(true);
		expect(isDefinitiveRefreshFailure(Object.assign(new Error("invalid_grant"), { name: "AbortError" }))).toBe(false);
		expect(isDefinitiveRefreshFailure({ name: "AbortError", message: "invalid_grant" })).toBe(false);
	});
});

describe("isUsageLimitOutcome", () => {
	it.each([
		[undefined, "You have hit your usage limit", true],
		[undefined, "usage_limit_reached", true],
		[400, "quota exceeded for this account", true],
		[undefined, "your account's rate limit was reached", true],
		[500, "internal error", false],
		[429, undefined, true],
		[429, "HTTP 429 error", true],
		[429, "Too many requests per minute", false],
		[429, "quota will reset at 5pm", true],
		[429, "model is overloaded (capacity)", false],
	])("status %s, %s → %s", (status, message, expected) => {
		expect(isUsageLimitOutcome(status, message)).toBe(expected);
	});
});

describe("parseRateLimitReason / backoff", () => {
	it("classifies in the documented order", () => {
		expect(parseRateLimitReason("You have exhausted your capacity")).toBe("QUOTA_EXHAUSTED");
		expect(parseRateLimitReason("Server overloaded")).toBe("MODEL_CAPACITY_EXHAUSTED");
		expect(parseRateLimitReason("rate limit per minute")).toBe("RATE_LIMIT_EXCEEDED");
		expect(parseRateLimitReason("insufficient balance")).toBe("QUOTA_EXHAUSTED");
		expect(parseRateLimitReason("500 internal server error")).toBe("SERVER_ERROR");
		expect(parseRateLimitReason("???")).toBe("UNKNOWN");
	});
	it("backs off per reason with injected randomness", () => {
		expect(rateLimitBackoffMs("QUOTA_EXHAUSTED")).toBe(1_800_000);
		expect(rateLimitBackoffMs("RATE_LIMIT_EXCEEDED")).toBe(30_000);
		expect(rateLimitBackoffMs("MODEL_CAPACITY_EXHAUSTED", () => 0.5)).toBe(60_000);
		expect(rateLimitBackoffMs("SERVER_ERROR")).toBe(20_000);
	});
});

describe("errorStatus / isAuthRetryableError", () => {
	it("reads fields, causes and messages", () => {
		expect(errorStatus({ status: 401 })).toBe(401);
		expect(errorStatus({ response: { status: 503 } })).toBe(503);
		expect(errorStatus(new Error("wrapped", { cause: { statusCode: 429 } }))).toBe(429);
		expect(errorStatus(new Error("request failed: status 404"))).toBe(404);
		expect(errorStatus(new Error("HTTP 502 from upstream"))).toBe(502);
		expect(errorStatus(new Error("no number here"))).toBeUndefined();
	});
	it("retries auth on 401 and usage limits only", () => {
		expect(isAuthRetryableError({ status: 401 })).toBe(true);
		expect(isAuthRetryableError(new Error("usage limit reached"))).toBe(true);
		expect(isAuthRetryableError({ status: 400, message: "bad request" })).toBe(false);
		expect(isTransientStatus(408)).toBe(true);
		expect(isTransientStatus(404)).toBe(false);
	});
});
