import { describe, expect, it } from "vitest";
import headersFixture from "./__fixtures__/rate-limit-headers.json";
import usageFixture from "./__fixtures__/usage.json";
import { parseCodexRateLimitHeaders } from "./codex-rate-limit-headers";
import { parseCodexUsagePayload } from "./codex-usage-provider";

const NOW = Date.UTC(2026, 5, 30, 12, 0, 0);

describe("parseCodexRateLimitHeaders", () => {
	it("builds the same primary/secondary limits as the usage payload", () => {
		const report = parseCodexRateLimitHeaders(headersFixture, NOW);
		const fromPayload = parseCodexUsagePayload(usageFixture, { now: NOW });
		expect(report).toEqual({
			provider: "openai-codex",
			fetchedAt: NOW,
			limits: fromPayload?.limits.slice(0, 2),
			metadata: { source: "ratelimit-headers", planType: "plus" },
		});
		expect(report?.limits.map((limit) => [limit.id, limit.label, limit.window?.id, limit.amount.usedFraction])).toEqual(
			[
				["openai-codex:primary", "5 hours", "5h", 0.23],
				["openai-codex:secondary", "7 days", "7d", 0.41],
			],
		);
	});

	it("uses reset-after-seconds when no reset-at is sent, and flags a full window exhausted", () => {
		const report = parseCodexRateLimitHeaders(
			{
				"x-codex-primary-used-percent": "100",
				"x-codex-primary-window-minutes": "60",
				"x-codex-primary-reset-after-seconds": "120",
			},
			NOW,
		);
		expect(report?.limits).toEqual([
			{
				id: "openai-codex:primary",
				label: "1 hour",
				scope: { provider: "openai-codex", windowId: "1h", shared: true },
				window: { id: "1h", label: "1 hour", durationMs: 3_600_000, resetsAt: NOW + 120_000 },
				amount: { used: 100, limit: 100, remaining: 0, usedFraction: 1, remainingFraction: 0, unit: "percent" },
				status: "exhausted",
			},
		]);
		expect(report?.metadata).toEqual({ source: "ratelimit-headers" });
	});

	it("falls back to primary/secondary window ids without window minutes", () => {
		const report = parseCodexRateLimitHeaders({ "x-codex-secondary-used-percent": "95" }, NOW);
		expect(report?.limits.map((limit) => [limit.id, limit.window, limit.status])).toEqual([
			["openai-codex:secondary", { id: "secondary", label: "Secondary window" }, "warning"],
		]);
	});

	it("returns null when no window header is present", () => {
		expect(parseCodexRateLimitHeaders({}, NOW)).toBeNull();
		expect(
			parseCodexRateLimitHeaders({ "x-codex-plan-type": "pro", "x-codex-credits-has-credits": "true" }, NOW),
		).toBeNull();
	});
});
