import { AuthStorage, createMemoryStore } from "@authpool/core";
import { type FakeProvider, startFakeProvider } from "@authpool/fake-provider";
import { describePoolRotation } from "@authpool/fake-provider/plugin-kit";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createOpenAICodexPlugin } from "./openai-codex-plugin";
import { fixedClock } from "./test-support";

const NOW = Date.UTC(2026, 5, 30, 12, 0, 0);
const clock = fixedClock(NOW);
let fake: FakeProvider;
let storage: AuthStorage | undefined;

beforeEach(async () => {
	clock.set(NOW);
	fake = await startFakeProvider({ now: () => clock.now() });
});
afterEach(async () => {
	await storage?.close();
	storage = undefined;
	await fake.close();
});

function plugin(target: FakeProvider = fake) {
	const base = target.baseUrl("openai-codex");
	return createOpenAICodexPlugin({
		endpoints: { tokenUrl: `${base}/oauth/token`, usageBaseUrl: `${base}/backend-api` },
	});
}

async function newStorage(): Promise<AuthStorage> {
	storage = new AuthStorage(createMemoryStore({ clock }), { providers: [plugin()], clock, env: {}, random: () => 0.5 });
	await storage.reload();
	return storage;
}

async function infer(token: string): Promise<Response> {
	return fetch(`${fake.baseUrl("openai-codex")}/inference`, {
		method: "POST",
		headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
		body: JSON.stringify({ model: "gpt-5.3-codex" }),
	});
}

describePoolRotation({
	provider: "openai-codex",
	makePlugin: (target) => plugin(target),
	core: { AuthStorage, createMemoryStore },
	clock,
	random: () => 0.5,
	expired: "both",
	model: "gpt-5.3-codex",
	accountSpec: (name) => ({ email: `${name}@example.com` }),
});

describe("openai-codex plugin end to end (AuthStorage + memory store + fake provider)", () => {
	it("reports usage, x-codex headers and saved resets through AuthStorage", async () => {
		const carol = fake.addAccount("openai-codex", {
			email: "carol@example.com",
			plan: "pro",
			usage: { plan: "pro", primary: { usedPercent: 30 }, resetCredits: 1 },
		});
		const pool = await newStorage();
		await pool.set("openai-codex", carol.credential);

		const [report] = await pool.fetchUsageReports();
		expect(report?.limits.map((limit) => [limit.id, limit.amount.used, limit.scope.tier])).toEqual([
			["openai-codex:primary", 30, "pro"],
			["openai-codex:secondary", 0, "pro"],
		]);
		expect(report?.resetCredits?.availableCount).toBe(1);
		expect(report?.metadata).toMatchObject({ planType: "pro", email: "carol@example.com" });

		const statuses = await pool.listResetCredits({ provider: "openai-codex" });
		expect(statuses.map((status) => status.availableCount)).toEqual([1]);
		const outcome = await pool.redeemResetCredit({ provider: "openai-codex", target: { email: "carol@example.com" } });
		expect(outcome).toMatchObject({ ok: true, code: "reset" });
		expect(fake.count("openai-codex", "consumeReset")).toBe(1);
	});

	it("parses the x-codex headers of a live inference response", async () => {
		const dave = fake.addAccount("openai-codex", { plan: "plus", quota: 4, usage: { plan: "plus" } });
		const response = await infer(dave.accessToken);
		const headers: Record<string, string> = {};
		response.headers.forEach((value, key) => {
			headers[key] = value;
		});
		const report = plugin().usage?.parseRateLimitHeaders?.(headers, NOW);
		expect(report?.limits.map((limit) => [limit.id, limit.window?.id, limit.amount.used, limit.scope.tier])).toEqual([
			["openai-codex:primary", "5h", 25, "plus"],
			["openai-codex:secondary", "7d", 0, "plus"],
		]);
		expect(report?.metadata).toEqual({ source: "ratelimit-headers", planType: "plus" });
	});
});
