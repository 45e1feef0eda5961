import { rankCandidates, type StoredAuthCredential, type UsageLimit, type UsageReport } from "@authpool/core";
import { describe, expect, it } from "vitest";
import { buildCodexLimit } from "./codex-limits";
import { codexRankingStrategy } from "./codex-ranking-strategy";

const NOW = Date.UTC(2026, 5, 30, 12, 0, 0);
const HOUR = 3_600_000;

function row(id: number): StoredAuthCredential {
	return {
		id,
		provider: "openai-codex",
		credential: { type: "oauth", access: `a${id}`, refresh: `r${id}`, expires: NOW + HOUR },
		disabledCause: null,
		version: 1,
		identityKey: `email:u${id}@example.com`,
		createdAt: 0,
		updatedAt: 0,
		disabledAt: null,
	};
}

function limit(key: "primary" | "secondary", usedPercent: number, seconds: number, resetInMs: number, plan?: string) {
	return buildCodexLimit({
		key,
		now: NOW,
		window: { usedPercent, limitWindowSeconds: seconds, resetAt: (NOW + resetInMs) / 1000 },
		...(plan ? { tier: plan } : {}),
	});
}

function report(primaryUsed: number, secondaryUsed: number, plan?: string): UsageReport {
	return {
		provider: "openai-codex",
		fetchedAt: NOW,
		limits: [
			limit("primary", primaryUsed, 18_000, 2 * HOUR, plan),
			limit("secondary", secondaryUsed, 604_800, 3 * 24 * HOUR, plan),
		],
		metadata: plan ? { planType: plan } : {},
	};
}

describe("codexRankingStrategy.findWindowLimits", () => {
	it("finds windows by exact id first", () => {
		const windows = codexRankingStrategy.findWindowLimits(report(10, 20));
		expect([windows.primary?.id, windows.secondary?.id]).toEqual(["openai-codex:primary", "openai-codex:secondary"]);
	});

	it("falls back to an id fragment, then to the 1h / 7d window ids", () => {
		const spark = buildCodexLimit({
			key: "primary",
			slug: "spark",
			now: NOW,
			window: { usedPercent: 5, limitWindowSeconds: 3600 },
		});
		const weekly: UsageLimit = { ...limit("secondary", 1, 604_800, HOUR), id: "openai-codex:weekly" };
		const hourly: UsageLimit = { ...limit("primary", 1, 3600, HOUR), id: "openai-codex:hourly" };
		expect(
			codexRankingStrategy.findWindowLimits({ provider: "openai-codex", fetchedAt: NOW, limits: [weekly, spark] }),
		).toEqual({
			primary: spark,
			secondary: weekly,
		});
		expect(
			codexRankingStrategy.findWindowLimits({ provider: "openai-codex", fetchedAt: NOW, limits: [hourly] }),
		).toEqual({
			primary: hourly,
		});
	});

	it("has 1h/7d defaults and gates on every limit", () => {
		expect(codexRankingStrategy.windowDefaults).toEqual({ primaryMs: HOUR, secondaryMs: 7 * 24 * HOUR });
		expect(codexRankingStrategy.scopeLimits).toBeUndefined();
		expect(codexRankingStrategy.blockScope).toBeUndefined();
	});
});

describe("codexRankingStrategy.hasPriorityBoost", () => {
	it("boosts only an untouched 5-hour window", () => {
		const boost = codexRankingStrategy.hasPriorityBoost;
		expect(boost?.(limit("primary", 0, 18_000, HOUR))).toBe(true);
		expect(boost?.(limit("primary", 0, 18_100, HOUR))).toBe(true); // rounds to the 5h window id
		const custom = (durationMs: number): UsageLimit => {
			const base = limit("primary", 0, 18_000, HOUR);
			return {
				...base,
				scope: { ...base.scope, windowId: "custom" },
				window: { id: "custom", label: "Custom", durationMs },
			};
		};
		expect(boost?.(custom(5 * HOUR + 60_000))).toBe(true); // within ±60 s of 5 h
		expect(boost?.(custom(5 * HOUR - 61_000))).toBe(false);
		expect(boost?.(limit("primary", 1, 18_000, HOUR))).toBe(false);
		expect(boost?.(limit("primary", 0, 3600, HOUR))).toBe(false);
		expect(boost?.(undefined)).toBe(false);
	});
});

describe("codexRankingStrategy.planPriority", () => {
	it("prefers pro plans for -spark models only", () => {
		const priority = codexRankingStrategy.planPriority;
		expect(priority?.(report(0, 0, "pro"), { modelId: "gpt-5.3-codex-spark" })).toBe(0);
		expect(priority?.(report(0, 0, "ProLite"), { modelId: "gpt-5.3-codex-spark" })).toBe(0);
		expect(priority?.(report(0, 0), { modelId: "gpt-5.3-codex-spark" })).toBe(1);
		expect(priority?.(null, { modelId: "gpt-5.3-codex-spark" })).toBe(1);
		expect(priority?.(report(0, 0, "plus"), { modelId: "gpt-5.3-codex-spark" })).toBe(2);
		expect(priority?.(report(0, 0, "pro"), { modelId: "gpt-5.3-codex" })).toBeUndefined();
		expect(priority?.(report(0, 0, "pro"), {})).toBeUndefined();
	});

	it("takes the plan from the primary limit's tier when metadata lacks it (header reports)", () => {
		const headerOnly: UsageReport = {
			provider: "openai-codex",
			fetchedAt: NOW,
			limits: [limit("primary", 10, 18_000, HOUR, "pro")],
		};
		expect(codexRankingStrategy.planPriority?.(headerOnly, { modelId: "x-spark" })).toBe(0);
	});
});

describe("codex ranking order", () => {
	const candidates = () => [
		{ row: row(1), report: report(10, 30, "plus") },
		{ row: row(2), report: report(50, 10, "plus") },
		{ row: row(3), report: report(0, 60, "pro") },
		{ row: row(4), report: report(20, 10, "plus") },
	];

	it("puts a boosted account first, then the slowest weekly drain, then lower primary use", () => {
		const ranked = rankCandidates(candidates(), codexRankingStrategy, { now: NOW, modelId: "gpt-5.3-codex" });
		expect(ranked.map((candidate) => candidate.row.id)).toEqual([3, 4, 2, 1]);
	});

	it("for a -spark model orders pro plans before the rest", () => {
		const list = candidates().map((candidate) =>
			candidate.row.id === 3 ? { ...candidate, report: report(40, 60, "pro") } : candidate,
		);
		const ranked = rankCandidates(list, codexRankingStrategy, { now: NOW, modelId: "gpt-5.3-codex-spark" });
		expect(ranked.map((candidate) => candidate.row.id)).toEqual([3, 4, 2, 1]);
		const plain = rankCandidates(list, codexRankingStrategy, { now: NOW, modelId: "gpt-5.3-codex" });
		expect(plain.map((candidate) => candidate.row.id)).toEqual([4, 2, 1, 3]);
	});
});
