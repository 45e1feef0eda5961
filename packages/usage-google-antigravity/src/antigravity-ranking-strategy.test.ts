import {
	exhaustedUntil,
	rankCandidates,
	type StoredAuthCredential,
	type UsageLimit,
	type UsageReport,
} from "@authpool/core";
import { describe, expect, it } from "vitest";
import example from "./__fixtures__/fetch-available-models.json";
import {
	antigravityCounterKeyForModel,
	antigravityRankingStrategy,
	scopeAntigravityLimits,
} from "./antigravity-ranking-strategy";
import { parseAntigravityModels } from "./antigravity-usage-provider";

const NOW = Date.parse("2026-06-30T12:00:00Z");
const DAY = 86_400_000;
const PROVIDER = "google-antigravity";

function limit(counter: string, windowId: string, remaining: number, resetsAt = NOW + DAY / 2): UsageLimit {
	return {
		id: `${PROVIDER}:${counter}:default:${windowId}`,
		label: "Usage",
		scope: { provider: PROVIDER, windowId },
		window: { id: windowId, label: windowId, durationMs: windowId === "weekly" ? 7 * DAY : DAY, resetsAt },
		amount: { unit: "percent", usedFraction: 1 - remaining, remainingFraction: remaining },
		status: remaining <= 0 ? "exhausted" : "ok",
	};
}

function report(limits: UsageLimit[]): UsageReport {
	const sorted = [...limits].sort((a, b) => (a.amount.remainingFraction ?? 1) - (b.amount.remainingFraction ?? 1));
	return { provider: PROVIDER, fetchedAt: NOW, limits: sorted };
}

function row(id: number): StoredAuthCredential {
	return {
		id,
		provider: PROVIDER,
		credential: { type: "oauth", access: `a${id}`, refresh: `r${id}`, expires: NOW + DAY, projectId: `p${id}` },
		disabledCause: null,
		version: 1,
		identityKey: `project:p${id}`,
		createdAt: NOW,
		updatedAt: NOW,
		disabledAt: null,
	};
}

describe("antigravityCounterKeyForModel", () => {
	it("maps model families to backend counters", () => {
		expect(antigravityCounterKeyForModel("claude-sonnet-4-6")).toBe("anthropic");
		expect(antigravityCounterKeyForModel("gemini-3.1-pro")).toBe("google");
		expect(antigravityCounterKeyForModel("gemma-3-27b")).toBe("google");
		expect(antigravityCounterKeyForModel("gpt-oss-120b")).toBe("openai");
		expect(antigravityCounterKeyForModel("openai/gpt-oss")).toBe("openai");
		expect(antigravityCounterKeyForModel("llama-4")).toBeUndefined();
		expect(antigravityCounterKeyForModel(undefined)).toBeUndefined();
	});
});

describe("antigravityRankingStrategy", () => {
	const parsed: UsageReport = {
		provider: PROVIDER,
		fetchedAt: NOW,
		limits: parseAntigravityModels(example, { projectId: "p" }, NOW),
	};

	it("scopes limits to the model's counter, falls back to the default counter, and gates nothing without a model", () => {
		expect(scopeAntigravityLimits(parsed, { modelId: "claude-sonnet-4-6" }).map((l) => l.id)).toEqual([
			"google-antigravity:anthropic:default:weekly",
			"google-antigravity:anthropic:default:daily",
		]);
		expect(scopeAntigravityLimits(parsed, { modelId: "gemini-3-flash" }).map((l) => l.id)).toEqual([
			"google-antigravity:google:default:daily",
		]);
		const legacy = report([limit("default", "daily", 0.5)]);
		expect(scopeAntigravityLimits(legacy, { modelId: "gpt-oss-120b" }).map((l) => l.id)).toEqual([
			"google-antigravity:default:default:daily",
		]);
		expect(scopeAntigravityLimits(parsed, {})).toEqual([]);
		expect(scopeAntigravityLimits(parsed, { modelId: "llama-4" })).toEqual([]);
	});

	it("uses the most pressured scoped limit as primary and never a secondary", () => {
		expect(antigravityRankingStrategy.findWindowLimits(parsed, { modelId: "claude-opus-4-6" })).toEqual({
			primary: parsed.limits[1],
		});
		expect(antigravityRankingStrategy.findWindowLimits(parsed)).toEqual({ primary: parsed.limits[0] });
		expect(antigravityRankingStrategy.findWindowLimits({ ...parsed, limits: [] })).toEqual({});
	});

	it("blocks per counter and defaults windows to one day", () => {
		expect(antigravityRankingStrategy.blockScope?.({ modelId: "claude-sonnet-4-6" })).toBe("counter:anthropic");
		expect(antigravityRankingStrategy.blockScope?.({ modelId: "gemini-3.1-pro" })).toBe("counter:google");
		expect(antigravityRankingStrategy.blockScope?.({})).toBe("counter:unknown");
		expect(antigravityRankingStrategy.windowDefaults).toEqual({ primaryMs: DAY, secondaryMs: DAY });
	});

	it("an exhausted Gemini counter blocks Gemini requests until its reset but leaves Claude requests alone", () => {
		const deadline = exhaustedUntil(parsed, antigravityRankingStrategy, {
			now: NOW,
			defaultBlockMs: 60_000,
			modelId: "gemini-3.1-pro",
		});
		expect(deadline).toBe(Date.parse("2026-07-01T00:00:00Z"));
		expect(
			exhaustedUntil(parsed, antigravityRankingStrategy, {
				now: NOW,
				defaultBlockMs: 60_000,
				modelId: "claude-sonnet-4-6",
			}),
		).toBeUndefined();
		expect(exhaustedUntil(parsed, antigravityRankingStrategy, { now: NOW, defaultBlockMs: 60_000 })).toBeUndefined();
	});

	it("ranks accounts by the bottleneck of the requested model's counter", () => {
		// Row 1: Claude nearly spent, Gemini fresh. Row 2: Claude fresh, Gemini half used.
		const reports = new Map<number, UsageReport>([
			[1, report([limit("anthropic", "daily", 0.1), limit("google", "daily", 1)])],
			[2, report([limit("anthropic", "daily", 0.9), limit("google", "daily", 0.5)])],
		]);
		const candidates = [1, 2].map((id) => ({ row: row(id), report: reports.get(id) ?? null }));
		const order = (modelId: string) =>
			rankCandidates(candidates, antigravityRankingStrategy, { now: NOW, modelId }).map((c) => c.row.id);
		expect(order("claude-sonnet-4-6")).toEqual([2, 1]);
		expect(order("gemini-3.1-pro")).toEqual([1, 2]);
		// Without a model the overall bottleneck (row 1's Claude counter) decides.
		expect(rankCandidates(candidates, antigravityRankingStrategy, { now: NOW }).map((c) => c.row.id)).toEqual([2, 1]);
	});
});
