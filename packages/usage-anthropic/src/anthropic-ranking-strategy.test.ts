import { rankCandidates, type StoredAuthCredential, type UsageReport } from "@authpool/core";
import { describe, expect, it } from "vitest";
import { buildAnthropicLimit } from "./anthropic-limits";
import { anthropicRankingStrategy } from "./anthropic-ranking-strategy";

const NOW = Date.UTC(2026, 5, 30, 12, 0, 0);
const HOUR = 3_600_000;

function row(id: number): StoredAuthCredential {
	return {
		id,
		provider: "anthropic",
		credential: { type: "oauth", access: `a${id}`, refresh: `r${id}`, expires: NOW + HOUR },
		disabledCause: null,
		version: 1,
		identityKey: `email:u${id}@example.com`,
		createdAt: 0,
		updatedAt: 0,
		disabledAt: null,
	};
}

function report(fiveHour: number, sevenDay: number, sevenDayResetsInMs = 3 * 24 * HOUR): UsageReport {
	return {
		provider: "anthropic",
		fetchedAt: NOW,
		limits: [
			buildAnthropicLimit("seven_day_opus", 99, NOW + HOUR),
			buildAnthropicLimit("five_hour", fiveHour, NOW + 2 * HOUR),
			buildAnthropicLimit("seven_day", sevenDay, NOW + sevenDayResetsInMs),
		],
	};
}

describe("anthropicRankingStrategy", () => {
	it("picks the shared 5h window as primary and the shared 7d window as secondary", () => {
		const windows = anthropicRankingStrategy.findWindowLimits(report(10, 20));
		expect(windows.primary?.id).toBe("anthropic:5h");
		expect(windows.secondary?.id).toBe("anthropic:7d");
		expect(anthropicRankingStrategy.findWindowLimits({ provider: "anthropic", fetchedAt: NOW, limits: [] })).toEqual(
			{},
		);
	});

	it("has 5h/7d window defaults, no scope, no block scope and no boost", () => {
		expect(anthropicRankingStrategy.windowDefaults).toEqual({ primaryMs: 5 * HOUR, secondaryMs: 7 * 24 * HOUR });
		expect(anthropicRankingStrategy.scopeLimits).toBeUndefined();
		expect(anthropicRankingStrategy.blockScope).toBeUndefined();
		expect(anthropicRankingStrategy.hasPriorityBoost).toBeUndefined();
	});

	it("ranks the account draining its weekly quota slowest first, then by 5h use; unknown usage last", () => {
		const ranked = rankCandidates(
			[
				{ row: row(1), report: report(10, 80) },
				{ row: row(2), report: report(50, 20) },
				{ row: row(3), report: report(5, 20) },
				{ row: row(4), report: null },
			],
			anthropicRankingStrategy,
			{ now: NOW },
		);
		// no report: used 0.5 without a reset, which drains faster than 80 % spread over 4 days
		expect(ranked.map((candidate) => candidate.row.id)).toEqual([3, 2, 1, 4]);
	});

	it("puts blocked accounts last", () => {
		const ranked = rankCandidates(
			[
				{ row: row(1), report: report(0, 0), blockedUntil: NOW + HOUR },
				{ row: row(2), report: report(90, 90) },
			],
			anthropicRankingStrategy,
			{ now: NOW },
		);
		expect(ranked.map((candidate) => candidate.row.id)).toEqual([2, 1]);
	});
});
