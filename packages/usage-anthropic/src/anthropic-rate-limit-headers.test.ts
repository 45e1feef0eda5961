import { describe, expect, it } from "vitest";
import headersFixture from "./__fixtures__/rate-limit-headers.json";
import { parseAnthropicRateLimitHeaders } from "./anthropic-rate-limit-headers";

const NOW = Date.UTC(2026, 5, 30, 12, 0, 0);
const HOUR = 3_600_000;

describe("parseAnthropicRateLimitHeaders", () => {
	it("turns the unified 5h/7d headers into the same limits the usage endpoint yields", () => {
		expect(parseAnthropicRateLimitHeaders(headersFixture, NOW)).toEqual({
			provider: "anthropic",
			fetchedAt: NOW,
			limits: [
				{
					id: "anthropic:5h",
					label: "Claude 5 Hour",
					scope: { provider: "anthropic", windowId: "5h", shared: true },
					window: { id: "5h", label: "5 Hour", durationMs: 5 * HOUR, resetsAt: 1_782_831_600_000 },
					amount: { used: 37, limit: 100, remaining: 63, usedFraction: 0.37, remainingFraction: 0.63, unit: "percent" },
					status: "ok",
				},
				{
					id: "anthropic:7d",
					label: "Claude 7 Day",
					scope: { provider: "anthropic", windowId: "7d", shared: true },
					window: { id: "7d", label: "7 Day", durationMs: 7 * 24 * HOUR, resetsAt: 1_783_069_200_000 },
					amount: { used: 62, limit: 100, remaining: 38, usedFraction: 0.62, remainingFraction: 0.38, unit: "percent" },
					status: "ok",
				},
			],
			metadata: { source: "ratelimit-headers" },
		});
	});

	it("marks a full window exhausted and ignores a zero reset", () => {
		const report = parseAnthropicRateLimitHeaders(
			{ "anthropic-ratelimit-unified-5h-utilization": "1", "anthropic-ratelimit-unified-5h-reset": "0" },
			NOW,
		);
		expect(report?.limits).toHaveLength(1);
		expect(report?.limits[0]?.status).toBe("exhausted");
		expect(report?.limits[0]?.window).toEqual({ id: "5h", label: "5 Hour", durationMs: 5 * HOUR });
	});

	it("gives a warning at 90 % and above", () => {
		const report = parseAnthropicRateLimitHeaders({ "anthropic-ratelimit-unified-7d-utilization": "0.9" }, NOW);
		expect(report?.limits.map((limit) => [limit.id, limit.status])).toEqual([["anthropic:7d", "warning"]]);
	});

	it("returns null when neither window is present", () => {
		expect(parseAnthropicRateLimitHeaders({}, NOW)).toBeNull();
		expect(parseAnthropicRateLimitHeaders({ "anthropic-ratelimit-unified-status": "allowed" }, NOW)).toBeNull();
		expect(parseAnthropicRateLimitHeaders({ "anthropic-ratelimit-unified-5h-utilization": "n/a" }, NOW)).toBeNull();
	});
});
