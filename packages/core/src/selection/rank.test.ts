import { describe, expect, it } from "vitest";
import type { StoredAuthCredential } from "../types";
import type { CredentialRankingStrategy, UsageLimit, UsageReport } from "../usage/types";
import { compareMetric, exhaustedUntil, type RankCandidate, rankCandidates } from "./rank";

const HOUR = 3_600_000;
const NOW = 1_700_000_000_000;

function row(id: number): StoredAuthCredential {
	return {
		id,
		provider: "test",
		credential: { type: "oauth", access: `a${id}`, refresh: `r${id}`, expires: NOW + HOUR },
		disabledCause: null,
		version: 1,
		identityKey: null,
		createdAt: 0,
		updatedAt: 0,
		disabledAt: null,
	};
}

interface WindowSpec {
	used?: number;
	resetsIn?: number;
	durationMs?: number;
}

function limit(id: string, spec: WindowSpec, extra: Partial<UsageLimit> = {}): UsageLimit {
	return {
		id,
		label: id,
		scope: { provider: "test" },
		window: {
			id,
			label: id,
			...(spec.durationMs !== undefined ? { durationMs: spec.durationMs } : {}),
			...(spec.resetsIn !== undefined ? { resetsAt: NOW + spec.resetsIn } : {}),
		},
		amount: { unit: "percent", ...(spec.used !== undefined ? { usedFraction: spec.used } : {}) },
		...extra,
	};
}

function report(
	primary?: WindowSpec,
	secondary?: WindowSpec,
	metadata?: Record<string, unknown>,
	extraLimits: UsageLimit[] = [],
): UsageReport {
	const limits: UsageLimit[] = [];
	if (primary) limits.push(limit("primary", primary));
	if (secondary) limits.push(limit("secondary", secondary));
	limits.push(...extraLimits);
	return { provider: "test", fetchedAt: NOW, limits, ...(metadata ? { metadata } : {}) };
}

/** Primary = 5 h window, secondary = 7 d window; boost when primary carries the "boost" note. */
const strategy: CredentialRankingStrategy = {
	findWindowLimits(r) {
		return {
			primary: r.limits.find((l) => l.id === "primary"),
			secondary: r.limits.find((l) => l.id === "secondary"),
		};
	},
	windowDefaults: { primaryMs: 5 * HOUR, secondaryMs: 7 * 24 * HOUR },
	hasPriorityBoost: (primary) => primary?.notes?.includes("boost") ?? false,
	planPriority(r, ctx) {
		if (!ctx?.modelId?.endsWith("-spark")) return undefined;
		const plan = r?.metadata?.planType;
		if (typeof plan !== "string") return 1;
		return plan === "pro" ? 0 : 2;
	},
	scopeLimits(r, ctx) {
		return r.limits.filter((l) => !l.scope.modelId || l.scope.modelId === ctx?.modelId);
	},
};

function ids(candidates: RankCandidate[], modelId?: string): number[] {
	return rankCandidates(candidates, strategy, { now: NOW, modelId }).map((c) => c.row.id);
}

describe("compareMetric", () => {
	it("treats values within the relative tolerance as equal", () => {
		expect(compareMetric(1000, 1000 + 5e-4)).toBe(0);
		expect(compareMetric(1000, 1000 + 5e-3)).toBe(-1);
		expect(compareMetric(2, 1)).toBe(1);
	});

	it("uses an absolute floor of 1e-9 near zero", () => {
		expect(compareMetric(0, 5e-10)).toBe(0);
		expect(compareMetric(0, 5e-9)).toBe(-1);
	});

	it("orders infinities", () => {
		expect(compareMetric(Number.POSITIVE_INFINITY, 1)).toBe(1);
		expect(compareMetric(Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY)).toBe(0);
	});
});

describe("rankCandidates", () => {
	it("puts unblocked rows first and orders blocked rows by earliest unblock", () => {
		const candidates: RankCandidate[] = [
			{ row: row(1), report: report({ used: 0 }), blockedUntil: NOW + 3 * HOUR },
			{ row: row(2), report: report({ used: 0.9 }) },
			{ row: row(3), report: report({ used: 0 }), blockedUntil: NOW + HOUR },
		];
		const ranked = rankCandidates(candidates, strategy, { now: NOW });
		expect(ranked.map((c) => c.row.id)).toEqual([2, 3, 1]);
		expect(ranked.map((c) => c.blocked)).toEqual([false, true, true]);
	});

	it("treats a block that already lifted as unblocked", () => {
		const candidates: RankCandidate[] = [
			{ row: row(1), report: report({ used: 0.9 }) },
			{ row: row(2), report: report({ used: 0.1 }), blockedUntil: NOW - 1 },
		];
		expect(ids(candidates)).toEqual([2, 1]);
	});

	it("applies plan priority only when the model is plan-gated", () => {
		const candidates: RankCandidate[] = [
			{ row: row(1), report: report({ used: 0.1 }, undefined, { planType: "plus" }) },
			{ row: row(2), report: null },
			{ row: row(3), report: report({ used: 0.9 }, undefined, { planType: "pro" }) },
		];
		// Gated: pro (0) < unknown (1) < plus (2), despite usage.
		expect(ids(candidates, "gpt-5-spark")).toEqual([3, 2, 1]);
		// Not gated: usage decides (1 = 0.1, null report = 0.5, 3 = 0.9).
		expect(ids(candidates, "gpt-5")).toEqual([1, 2, 3]);
	});

	it("prefers a priority boost over lower usage", () => {
		const boosted = report();
		boosted.limits.push(limit("primary", { used: 0.8 }, { notes: ["boost"] }));
		const candidates: RankCandidate[] = [
			{ row: row(1), report: report({ used: 0.1 }) },
			{ row: row(2), report: boosted },
		];
		const ranked = rankCandidates(candidates, strategy, { now: NOW });
		expect(ranked.map((c) => c.row.id)).toEqual([2, 1]);
		expect(ranked[0]?.hasPriorityBoost).toBe(true);
	});

	it("prefers the lower secondary drain rate over a lower secondary used fraction", () => {
		// Row 1: 40 % used 1 day into a 7-day window → 0.4/24 per hour.
		// Row 2: 20 % used 1 hour into the window → 0.2 per hour (burns faster).
		const week = 7 * 24 * HOUR;
		const candidates: RankCandidate[] = [
			{ row: row(2), report: report({ used: 0 }, { used: 0.2, resetsIn: week - HOUR, durationMs: week }) },
			{ row: row(1), report: report({ used: 0 }, { used: 0.4, resetsIn: week - 24 * HOUR, durationMs: week }) },
		];
		const ranked = rankCandidates(candidates, strategy, { now: NOW });
		expect(ranked.map((c) => c.row.id)).toEqual([1, 2]);
		expect(ranked[0]?.secondaryDrainRate).toBeCloseTo(0.4 / 24, 9);
		expect(ranked[1]?.secondaryDrainRate).toBeCloseTo(0.2, 9);
	});

	it("falls through to secondary used when secondary drain rates tie", () => {
		const week = 7 * 24 * HOUR;
		// Row 1: 0.2 used, 2 h elapsed → 0.1/h. Row 2: 0.1 used, 1 h elapsed → 0.1/h.
		const candidates: RankCandidate[] = [
			{ row: row(1), report: report({ used: 0 }, { used: 0.2, resetsIn: week - 2 * HOUR, durationMs: week }) },
			{ row: row(2), report: report({ used: 0 }, { used: 0.1, resetsIn: week - HOUR, durationMs: week }) },
		];
		const ranked = rankCandidates(candidates, strategy, { now: NOW });
		expect(compareMetric(ranked[0]!.secondaryDrainRate, ranked[1]!.secondaryDrainRate)).toBe(0);
		expect(ranked.map((c) => c.row.id)).toEqual([2, 1]);
	});

	it("falls through to the primary drain rate, then primary used", () => {
		const sameSecondary: WindowSpec = { used: 0.3 };
		// Primary drain: row 1 0.4 used over 4 h (0.1/h), row 2 0.2 used over 1 h (0.2/h).
		const byDrain: RankCandidate[] = [
			{ row: row(2), report: report({ used: 0.2, resetsIn: 4 * HOUR, durationMs: 5 * HOUR }, sameSecondary) },
			{ row: row(1), report: report({ used: 0.4, resetsIn: HOUR, durationMs: 5 * HOUR }, sameSecondary) },
		];
		expect(ids(byDrain)).toEqual([1, 2]);
		// Equal drain rates (0.1/h): 0.1 over 1 h vs 0.2 over 2 h → lower primary used wins.
		const byUsed: RankCandidate[] = [
			{ row: row(1), report: report({ used: 0.2, resetsIn: 3 * HOUR, durationMs: 5 * HOUR }, sameSecondary) },
			{ row: row(2), report: report({ used: 0.1, resetsIn: 4 * HOUR, durationMs: 5 * HOUR }, sameSecondary) },
		];
		expect(ids(byUsed)).toEqual([2, 1]);
	});

	it("uses window defaults when a window has no duration", () => {
		// Default primary window is 5 h: reset in 4 h → 1 h elapsed → drain = used.
		const ranked = rankCandidates([{ row: row(1), report: report({ used: 0.3, resetsIn: 4 * HOUR }) }], strategy, {
			now: NOW,
		});
		expect(ranked[0]?.primaryDrainRate).toBeCloseTo(0.3, 9);
		// Secondary falls back to primary; default secondary window (7 d) → nearly all elapsed.
		expect(ranked[0]?.secondaryDrainRate).toBeCloseTo(0.3 / (7 * 24 - 4), 9);
	});

	it("drain equals used when the window has not started yet or has no reset time", () => {
		const ranked = rankCandidates(
			[
				{ row: row(1), report: report({ used: 0.6, resetsIn: 10 * HOUR, durationMs: 5 * HOUR }) },
				{ row: row(2), report: report({ used: 0.7 }) },
			],
			strategy,
			{ now: NOW },
		);
		expect(ranked.find((c) => c.row.id === 1)?.primaryDrainRate).toBeCloseTo(0.6, 9);
		expect(ranked.find((c) => c.row.id === 2)?.primaryDrainRate).toBeCloseTo(0.7, 9);
	});

	it("clamps used fractions to 0..1 and counts missing usage as 0.5", () => {
		const ranked = rankCandidates(
			[
				{ row: row(1), report: report({ used: 1.7 }) },
				{ row: row(2), report: null },
				{ row: row(3), report: report({}) },
				{ row: row(4), report: report({ used: -0.5 }) },
			],
			strategy,
			{ now: NOW },
		);
		expect(ranked.map((c) => [c.row.id, c.primaryUsed])).toEqual([
			[4, 0],
			[2, 0.5],
			[3, 0.5],
			[1, 1],
		]);
	});

	it("keeps input order for ties, including ties within the tolerance", () => {
		const candidates: RankCandidate[] = [
			{ row: row(9), report: report({ used: 0.5 + 1e-12 }) },
			{ row: row(4), report: report({ used: 0.5 }) },
			{ row: row(7), report: report({ used: 0.5 - 1e-12 }) },
		];
		const ranked = rankCandidates(candidates, strategy, { now: NOW });
		expect(ranked.map((c) => c.row.id)).toEqual([9, 4, 7]);
		expect(ranked.map((c) => c.order)).toEqual([0, 1, 2]);
	});

	it("does not mutate its input", () => {
		const candidates: RankCandidate[] = [
			{ row: row(1), report: report({ used: 0.9 }) },
			{ row: row(2), report: report({ used: 0.1 }) },
		];
		rankCandidates(candidates, strategy, { now: NOW });
		expect(candidates.map((c) => c.row.id)).toEqual([1, 2]);
	});
});

describe("exhaustedUntil", () => {
	const ctx = { now: NOW, defaultBlockMs: 60_000 };

	it("is undefined when no scoped limit is exhausted", () => {
		expect(exhaustedUntil(report({ used: 0.99, resetsIn: HOUR }), strategy, ctx)).toBeUndefined();
	});

	it("returns the earliest future reset among exhausted limits", () => {
		const r = report({ used: 1, resetsIn: 3 * HOUR }, { used: 1, resetsIn: 2 * HOUR }, undefined, [
			limit("other", { used: 0.2, resetsIn: HOUR }),
			limit("past", { used: 1, resetsIn: -HOUR }),
		]);
		expect(exhaustedUntil(r, strategy, ctx)).toBe(NOW + 2 * HOUR);
	});

	it("falls back to now + defaultBlockMs without a future reset", () => {
		const r = report({ used: 1, resetsIn: -1 });
		expect(exhaustedUntil(r, strategy, ctx)).toBe(NOW + 60_000);
		const noWindow: UsageReport = {
			provider: "test",
			fetchedAt: NOW,
			limits: [{ id: "x", label: "x", scope: { provider: "test" }, amount: { unit: "requests", remaining: 0 } }],
		};
		expect(exhaustedUntil(noWindow, undefined, ctx)).toBe(NOW + 60_000);
	});

	it("counts status and amount-based exhaustion", () => {
		const r = report(undefined, undefined, undefined, [
			limit("s", { used: 0.2, resetsIn: HOUR }, { status: "exhausted" }),
		]);
		expect(exhaustedUntil(r, strategy, ctx)).toBe(NOW + HOUR);
	});

	it("only looks at the strategy's scoped limits", () => {
		const modelLimit = limit("model", { used: 1, resetsIn: HOUR }, { scope: { provider: "test", modelId: "m1" } });
		const r = report({ used: 0.1 }, undefined, undefined, [modelLimit]);
		expect(exhaustedUntil(r, strategy, { ...ctx, modelId: "m2" })).toBeUndefined();
		expect(exhaustedUntil(r, strategy, { ...ctx, modelId: "m1" })).toBe(NOW + HOUR);
		// Without a strategy every limit gates.
		expect(exhaustedUntil(r, undefined, { ...ctx, modelId: "m2" })).toBe(NOW + HOUR);
	});
});
