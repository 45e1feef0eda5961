import { silentLogger, type UsageFetchContext } from "@authpool/core";
import { type FakeProvider, startFakeProvider } from "@authpool/fake-provider";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createKimiPlugin } from "./kimi-plugin";

const PROVIDER = "kimi-code";
const NOW = Date.parse("2026-06-30T12:00:00Z");
const HOUR = 3_600_000;
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

const ctx = (signal?: AbortSignal): UsageFetchContext => ({
	fetch: globalThis.fetch,
	clock: { now: () => NOW },
	logger: silentLogger,
	env: {},
	...(signal ? { signal } : {}),
});

function usagePlugin() {
	return createKimiPlugin({ endpoints: { usageBaseUrl: `${fake.baseUrl(PROVIDER)}/coding/v1` } });
}

function params(account: { accessToken: string; expiresAt: number }, accountId?: string) {
	return {
		provider: PROVIDER,
		credential: {
			type: "oauth" as const,
			accessToken: account.accessToken,
			expiresAt: account.expiresAt,
			...(accountId ? { accountId } : {}),
		},
	};
}

describe("kimi-code usage against the fake provider", () => {
	it("parses the summary and the 5 h window to the exact limits", async () => {
		const account = fake.addAccount(PROVIDER, {
			usage: {
				primary: { usedPercent: 6, resetsAt: NOW + 3 * HOUR },
				secondary: { usedPercent: 25, resetsAt: NOW + 6 * 24 * HOUR },
			},
		});
		const report = await usagePlugin().usage!.fetchUsage(params(account, "acct-9"), ctx());
		expect(report).not.toBeNull();
		expect(report!.provider).toBe(PROVIDER);
		expect(report!.fetchedAt).toBe(NOW);
		expect(report!.metadata).toEqual({ endpoint: `${fake.baseUrl(PROVIDER)}/coding/v1` });
		expect(report!.limits).toEqual([
			{
				id: "kimi-code:0",
				label: "Total quota",
				scope: { provider: PROVIDER, accountId: "acct-9", windowId: "default", shared: true },
				window: { id: "default", label: "Usage window", resetsAt: NOW + 6 * 24 * HOUR },
				amount: {
					used: 512,
					limit: 2048,
					remaining: 1536,
					usedFraction: 0.25,
					remainingFraction: 0.75,
					unit: "unknown",
				},
				status: "ok",
			},
			{
				id: "kimi-code:1",
				label: "5h limit",
				scope: { provider: PROVIDER, accountId: "acct-9", windowId: "300time_unit_minute", shared: true },
				window: {
					id: "300time_unit_minute",
					label: "5h limit",
					durationMs: 5 * HOUR,
					resetsAt: NOW + 3 * HOUR,
				},
				amount: { used: 12, limit: 200, remaining: 188, usedFraction: 0.06, remainingFraction: 0.94, unit: "unknown" },
				status: "ok",
			},
		]);
		const request = fake.requests.find((r) => r.endpoint === "usage");
		expect(request?.headers.authorization).toBe(`Bearer ${account.accessToken}`);
		expect(request?.headers["user-agent"]).toMatch(/^KimiCLI\//);
	});

	it("shows the 5 h window exhausted once the inference quota is spent", async () => {
		const account = fake.addAccount(PROVIDER, { quota: 2 });
		for (let i = 0; i < 2; i++) {
			const response = await fetch(`${fake.baseUrl(PROVIDER)}/inference`, {
				method: "POST",
				headers: { authorization: `Bearer ${account.accessToken}` },
			});
			expect(response.status).toBe(200);
		}
		const report = await usagePlugin().usage!.fetchUsage(params(account), ctx());
		const fiveHour = report!.limits.find((l) => l.id === "kimi-code:1");
		expect(fiveHour?.status).toBe("exhausted");
		expect(fiveHour?.amount).toMatchObject({ used: 200, limit: 200, remaining: 0, usedFraction: 1 });
		expect(fiveHour?.window?.resetsAt).toBe(NOW + 5 * HOUR);
		expect(report!.limits.find((l) => l.id === "kimi-code:0")?.status).toBe("ok");
	});

	it("returns null for a revoked token, a 500 and an unreachable host", async () => {
		const account = fake.addAccount(PROVIDER);
		fake.failNext(PROVIDER, "usage", { status: 500 });
		expect(await usagePlugin().usage!.fetchUsage(params(account), ctx())).toBeNull();
		fake.revoke(account.id);
		expect(await usagePlugin().usage!.fetchUsage(params(account), ctx())).toBeNull();
		const offline = createKimiPlugin({ endpoints: { usageBaseUrl: "http://127.0.0.1:1/coding/v1" } });
		expect(await offline.usage!.fetchUsage(params(account), ctx())).toBeNull();
	});

	it("stops when the signal aborts during a hanging request", async () => {
		const account = fake.addAccount(PROVIDER);
		fake.failNext(PROVIDER, "usage", { hang: true });
		const controller = new AbortController();
		const pending = usagePlugin()
			.usage!.fetchUsage({ ...params(account), signal: controller.signal }, ctx())
			.then(
				() => "resolved",
				(e: unknown) => e,
			);
		while (fake.count(PROVIDER, "usage") === 0) await new Promise((r) => setTimeout(r, 5));
		controller.abort();
		expect(await pending).toBeInstanceOf(Error);
	});
});
