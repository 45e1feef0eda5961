import { AuthpoolError, type ClientUsageReport } from "@authpool/core";
import { describe, expect, it } from "vitest";
import { ObservedUsageBatcher } from "./observed-usage";

const HOUR = 3_600_000;
const T0 = 1_700_000_000_000 - (1_700_000_000_000 % HOUR);

function entry(overrides: Partial<ClientUsageReport["entries"][number]> = {}) {
	return {
		at: T0 + 1_000,
		provider: "anthropic",
		model: "sonnet",
		requests: 1,
		inputTokens: 10,
		outputTokens: 2,
		cacheReadTokens: 0,
		cacheWriteTokens: 0,
		costUsd: 0.5,
		...overrides,
	};
}

function batcher(outcomes: Array<"ok" | number>, maxEntries = 100) {
	const sent: ClientUsageReport[] = [];
	const logs: string[] = [];
	const b = new ObservedUsageBatcher({
		flushMs: 3_600_000,
		maxEntries,
		async send(report) {
			const outcome = outcomes.shift() ?? "ok";
			if (outcome !== "ok") {
				throw new AuthpoolError("UPSTREAM_ERROR", `broker answered ${outcome}`, { details: { status: outcome } });
			}
			sent.push(structuredClone(report));
		},
		classify(error) {
			const status = (error as AuthpoolError).details?.status as number;
			if (status === 501) return "stop";
			if (status === 400) return "drop";
			return "retry";
		},
		log: (_level, message) => logs.push(message),
	});
	return { b, sent, logs };
}

describe("ObservedUsageBatcher", () => {
	it("merges per install, model and hour, and sends one report per install", async () => {
		const { b, sent } = batcher([]);
		b.add({ installId: "a", app: "cli", entries: [entry(), entry({ at: T0 + 2_000, requests: 2 })] });
		b.add({ installId: "a", app: "cli", entries: [entry({ model: "opus" }), entry({ at: T0 + HOUR })] });
		b.add({ installId: "b", entries: [entry()] });
		expect(b.pending).toBe(4);
		await b.flush();
		expect(b.pending).toBe(0);
		expect(sent.map((report) => [report.installId, report.entries.map((e) => [e.model, e.at, e.requests])])).toEqual([
			[
				"a",
				[
					["sonnet", T0 + 2_000, 3],
					["opus", T0 + 1_000, 1],
					["sonnet", T0 + HOUR, 1],
				],
			],
			["b", [["sonnet", T0 + 1_000, 1]]],
		]);
		expect(sent[0]!.app).toBe("cli");
	});

	it("a failed send keeps the entries (merged with later ones) for the next flush", async () => {
		const { b, sent } = batcher([503]);
		b.add({ installId: "a", entries: [entry()] });
		await b.flush();
		expect(sent).toEqual([]);
		b.add({ installId: "a", entries: [entry({ requests: 4 })] });
		await b.flush();
		expect(sent.map((report) => report.entries.map((e) => e.requests))).toEqual([[5]]);
	});

	it("a refused batch is dropped, a broker without the route stops the batcher", async () => {
		const { b, sent, logs } = batcher([400, 501]);
		b.add({ installId: "a", entries: [entry()] });
		await b.flush();
		expect(b.pending).toBe(0);
		b.add({ installId: "a", entries: [entry()] });
		await b.flush();
		b.add({ installId: "a", entries: [entry()] });
		expect(b.pending).toBe(0);
		await b.flush();
		expect(sent).toEqual([]);
		expect(logs.some((line) => line.includes("no more will be sent"))).toBe(true);
	});

	it("stays bounded: entries beyond the bound are dropped and counted, merges into held ones still count", async () => {
		const { b, sent, logs } = batcher([], 2);
		b.add({ installId: "a", entries: [entry({ model: "m1" }), entry({ model: "m2" }), entry({ model: "m3" })] });
		b.add({ installId: "a", entries: [entry({ model: "m1", requests: 9 })] });
		expect(b.pending).toBe(2);
		await b.flush();
		expect(sent[0]!.entries.map((e) => [e.model, e.requests])).toEqual([
			["m1", 10],
			["m2", 1],
		]);
		expect(logs.some((line) => line.includes("buffer is full"))).toBe(true);
	});

	it("sends at most 1,000 entries a call", async () => {
		const sent: ClientUsageReport[] = [];
		const big = new ObservedUsageBatcher({
			flushMs: 3_600_000,
			maxEntries: 10_000,
			send: async (report) => {
				sent.push(report);
			},
			classify: () => "retry",
			log: () => {},
		});
		big.add({ installId: "a", entries: Array.from({ length: 1_500 }, (_, index) => entry({ model: `m${index}` })) });
		await big.flush();
		expect(sent.map((report) => report.entries.length)).toEqual([1_000, 500]);
		big.close();
	});
});
