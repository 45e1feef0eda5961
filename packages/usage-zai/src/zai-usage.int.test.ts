import { silentLogger, type UsageFetchContext } from "@authpool/core";
import { type FakeProvider, startFakeProvider } from "@authpool/fake-provider";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createZaiPlugin } from "./zai-plugin";

const PROVIDER = "zai";
const NOW = Date.parse("2026-06-30T12:00:00Z");
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
let fake: FakeProvider;

beforeAll(async () => {
	fake = await startFakeProvider({ now: () => NOW });
});
afterAll(async () => {
	await fake.close();
});
beforeEach(() => {
	fake.reset();
});

const ctx = (): UsageFetchContext => ({
	fetch: globalThis.fetch,
	clock: { now: () => NOW },
	logger: silentLogger,
	env: {},
});

const plugin = () => createZaiPlugin({ endpoints: { origin: fake.baseUrl(PROVIDER) } });

function params(apiKey: string) {
	return { provider: PROVIDER, credential: { type: "api_key" as const, apiKey, email: "z@example.com" } };
}

describe("zai usage against the fake provider", () => {
	it("parses the token windows and the search/reader/zread quota to the exact limits", async () => {
		const account = fake.addAccount(PROVIDER, {
			usage: {
				primary: { usedPercent: 12, resetsAt: NOW + 2 * HOUR },
				secondary: { usedPercent: 40, resetsAt: NOW + 5 * DAY },
				buckets: { requests: { usedPercent: 3, resetsAt: NOW + 20 * DAY } },
			},
		});
		const report = await plugin().usage!.fetchUsage(params(account.apiKey!), ctx());
		expect(report).not.toBeNull();
		expect(report!.fetchedAt).toBe(NOW);
		expect(report!.limits).toEqual([
			{
				id: "zai:tokens:5h",
				label: "ZAI 5 Hours Token Quota",
				scope: { provider: PROVIDER, windowId: "5h", shared: true },
				window: { id: "5h", label: "5 Hours", durationMs: 5 * HOUR, resetsAt: NOW + 2 * HOUR },
				amount: { usedFraction: 0.12, remainingFraction: 0.88, unit: "tokens" },
				status: "ok",
			},
			{
				id: "zai:tokens:1w",
				label: "ZAI Weekly Token Quota",
				scope: { provider: PROVIDER, windowId: "1w", shared: true },
				window: { id: "1w", label: "Weekly", durationMs: 7 * DAY, resetsAt: NOW + 5 * DAY },
				amount: { usedFraction: 0.4, remainingFraction: 0.6, unit: "tokens" },
				status: "ok",
			},
			{
				id: "zai:requests:1mo",
				label: "ZAI Web Search / Reader / Zread Quota",
				scope: { provider: PROVIDER, windowId: "1mo", shared: true },
				window: { id: "1mo", label: "Monthly", durationMs: 30 * DAY, resetsAt: NOW + 20 * DAY },
				amount: {
					used: 30,
					limit: 1000,
					remaining: 970,
					usedFraction: 0.03,
					remainingFraction: 0.97,
					unit: "requests",
				},
				status: "ok",
			},
		]);
		expect(report!.metadata).toMatchObject({ endpoint: fake.baseUrl(PROVIDER), email: "z@example.com" });
		expect(report!.metadata?.modelUsage).toMatchObject({ success: true });

		const quota = fake.requests.find((r) => r.endpoint === "usage");
		expect(quota?.headers.authorization).toBe(account.apiKey);
		const modelUsage = fake.requests.find((r) => r.endpoint === "modelUsage");
		// Local time, with the date/time separator sent as an encoded "+" (%2B), like the reference client.
		expect(modelUsage?.path).toMatch(/startTime=\d{4}-\d\d-\d\d%2B\d\d%3A\d\d%3A\d\d&endTime=/);
		const local = (stamp: string | undefined) => Date.parse(String(stamp).replace("+", "T"));
		expect(local(modelUsage?.query.endTime) - local(modelUsage?.query.startTime)).toBe(7 * DAY);
	});

	it("shows the 5 h token window exhausted once the inference quota is spent", async () => {
		const account = fake.addAccount(PROVIDER, { quota: 1 });
		const call = () =>
			fetch(`${fake.baseUrl(PROVIDER)}/inference`, {
				method: "POST",
				headers: { authorization: `Bearer ${account.apiKey}` },
			});
		expect((await call()).status).toBe(200);
		expect((await call()).status).toBe(429);
		const report = await plugin().usage!.fetchUsage(params(account.apiKey!), ctx());
		const fiveHour = report!.limits.find((l) => l.id === "zai:tokens:5h");
		expect(fiveHour?.status).toBe("exhausted");
		expect(fiveHour?.window?.resetsAt).toBe(NOW + 5 * HOUR);
	});

	it("keeps the report when only model-usage fails, and returns null when the quota call fails", async () => {
		const account = fake.addAccount(PROVIDER);
		fake.failNext(PROVIDER, "modelUsage", { status: 500 });
		const partial = await plugin().usage!.fetchUsage(params(account.apiKey!), ctx());
		expect(partial?.limits.map((l) => l.id)).toEqual(["zai:tokens:5h", "zai:tokens:1w"]);
		expect(partial?.metadata?.modelUsage).toBeUndefined();

		fake.failNext(PROVIDER, "usage", { status: 503 });
		expect(await plugin().usage!.fetchUsage(params(account.apiKey!), ctx())).toBeNull();
		expect(await plugin().usage!.fetchUsage(params("not-a-key"), ctx())).toBeNull();
	});

	it("stops with the abort when the signal aborts during the model-usage call", async () => {
		const account = fake.addAccount(PROVIDER);
		fake.failNext(PROVIDER, "modelUsage", { hang: true });
		const controller = new AbortController();
		const pending = plugin()
			.usage!.fetchUsage({ ...params(account.apiKey!), signal: controller.signal }, ctx())
			.then(
				() => "resolved",
				(e: unknown) => e,
			);
		while (fake.count(PROVIDER, "modelUsage") === 0) await new Promise((r) => setTimeout(r, 5));
		controller.abort();
		expect(await pending).toBeInstanceOf(Error);
	});
});
