import { silentLogger, type UsageCostHistoryEntry, type UsageCostHistoryQuery } from "@authpool/core";
import { describe, expect, it } from "vitest";
import { buildOpencodeGoReport, opencodeGo } from "./opencode-go-plugin";

const HOUR = 3_600_000;
const NOW = 1_782_820_000_000;
const cost = (hoursAgo: number, costUsd: number): UsageCostHistoryEntry => ({
	recordedAt: NOW - hoursAgo * HOUR,
	provider: "opencode-go",
	accountKey: "api_key|secret:9f2c",
	costUsd,
});

describe("opencode-go report", () => {
	it("sums recorded costs per window against the caps", () => {
		const report = buildOpencodeGoReport([cost(1, 0.42), cost(4, 1.1), cost(30, 10), cost(24 * 10, 5)], NOW);
		const byId = Object.fromEntries(report.limits.map((l) => [l.id, l]));
		expect(Object.keys(byId)).toEqual(["rolling-5h", "weekly", "monthly"]);
		expect(byId["rolling-5h"]!.amount).toMatchObject({ used: 1.52, limit: 12, unit: "usd" });
		expect(byId["rolling-5h"]!.window).toEqual({
			id: "rolling-5h",
			label: "5 Hour limit",
			durationMs: 5 * HOUR,
			resetsAt: NOW - 4 * HOUR + 5 * HOUR,
		});
		expect(byId.weekly!.amount.used).toBe(11.52);
		expect(byId.monthly!.amount.used).toBe(16.52);
		expect(byId.monthly!.scope).toEqual({ provider: "opencode-go", windowId: "monthly" });
		expect(byId["rolling-5h"]!.status).toBe("ok");
	});

	it("warns at 80 % and is exhausted at the cap", () => {
		const warning = buildOpencodeGoReport([cost(1, 9.6)], NOW);
		expect(warning.limits[0]!.status).toBe("warning");
		const exhausted = buildOpencodeGoReport([cost(1, 12)], NOW);
		expect(exhausted.limits[0]!.status).toBe("exhausted");
		expect(exhausted.limits[0]!.amount.remaining).toBe(0);
	});

	it("has no reset time and zero use without costs", () => {
		const report = buildOpencodeGoReport([], NOW);
		expect(report.limits.every((l) => l.amount.used === 0 && l.window?.resetsAt === undefined)).toBe(true);
	});
});

describe("opencode-go usage provider", () => {
	it("reads the account's costs of the last 30 days from the context", async () => {
		const queries: UsageCostHistoryQuery[] = [];
		const report = await opencodeGo.usage!.fetchUsage(
			{ provider: "opencode-go", credential: { type: "api_key", apiKey: "k" }, accountKey: "api_key|secret:9f2c" },
			{
				fetch: async () => {
					throw new Error("no network expected");
				},
				clock: { now: () => NOW },
				logger: silentLogger,
				env: {},
				listUsageCosts: async (query) => {
					queries.push(query ?? {});
					return [cost(2, 3)];
				},
			},
		);
		expect(queries).toEqual([
			{ provider: "opencode-go", accountKey: "api_key|secret:9f2c", sinceMs: NOW - 720 * HOUR },
		]);
		expect(report?.limits[0]?.amount.used).toBe(3);
		expect(opencodeGo.usage!.supports!({ provider: "opencode-go", credential: { type: "oauth" } })).toBe(false);
	});

	it("returns null (not a throw) when the cost ledger fails", async () => {
		const report = await opencodeGo.usage!.fetchUsage(
			{ provider: "opencode-go", credential: { type: "api_key", apiKey: "k" } },
			{
				fetch: globalThis.fetch,
				clock: { now: () => NOW },
				logger: silentLogger,
				env: {},
				listUsageCosts: async () => {
					throw new Error("db gone");
				},
			},
		);
		expect(report).toBeNull();
	});
});
