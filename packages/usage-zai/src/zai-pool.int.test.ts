import { type AuthCredential, AuthStorage, createMemoryStore } from "@authpool/core";
import { type FakeProvider, startFakeProvider } from "@authpool/fake-provider";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createZaiPlugin } from "./zai-plugin";

const PROVIDER = "zai";
const now = Date.parse("2026-06-30T12:00:00Z");
const clock = { now: () => now };
let fake: FakeProvider;
let storage: AuthStorage | undefined;

beforeEach(async () => {
	fake = await startFakeProvider({ now: clock.now });
});
afterEach(async () => {
	await storage?.close();
	storage = undefined;
	await fake.close();
});

function infer(key: string): Promise<Response> {
	return fetch(`${fake.baseUrl(PROVIDER)}/inference`, {
		method: "POST",
		headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
		body: JSON.stringify({ model: "glm-4.6" }),
	});
}

describe("zai end to end through AuthStorage", () => {
	it("hands out a stored key and moves the session to the sibling after a 429", async () => {
		const alice = fake.addAccount(PROVIDER, { quota: 2 });
		const bob = fake.addAccount(PROVIDER, { quota: 2 });
		storage = new AuthStorage(createMemoryStore({ clock }), {
			providers: [createZaiPlugin({ endpoints: { origin: fake.baseUrl(PROVIDER) } })],
			clock,
			env: {},
			fetch: globalThis.fetch,
		});
		await storage.reload();
		await storage.set(PROVIDER, [alice.credential as AuthCredential, bob.credential as AuthCredential]);

		const first = await storage.getApiKey(PROVIDER, "s1");
		expect([alice.apiKey, bob.apiKey]).toContain(first);
		const sibling = first === alice.apiKey ? bob : alice;

		let limited = await infer(first!);
		for (let calls = 1; limited.status === 200 && calls < 10; calls++) limited = await infer(first!);
		expect(limited.status).toBe(429);
		expect(fake.inferenceCount()).toBe(2);
		const retryAfterMs = Number(limited.headers.get("retry-after")) * 1000;

		const mark = await storage.markUsageLimitReached(PROVIDER, "s1", { retryAfterMs });
		expect(mark).toEqual({ switched: true });
		// The block deadline came from a fresh usage report of the limited key (raw-key auth, no Bearer).
		const quotaCall = fake.requests.filter((r) => r.endpoint === "usage").at(-1);
		expect(quotaCall?.headers.authorization).toBe(first);

		const second = await storage.getApiKey(PROVIDER, "s1");
		expect(second).toBe(sibling.apiKey);
		expect((await infer(second!)).status).toBe(200);

		// Usage views show both keys: the limited one exhausted, the sibling half used.
		const reports = await storage.fetchUsageReports();
		const fiveHour = reports.map((r) => r.limits.find((l) => l.id === "zai:tokens:5h"));
		expect(fiveHour.map((l) => [l?.status, l?.amount.usedFraction]).sort()).toEqual([
			["exhausted", 1],
			["ok", 0.5],
		]);
	});

	it("falls back to ZAI_API_KEY when nothing is stored", async () => {
		storage = new AuthStorage(createMemoryStore({ clock }), {
			providers: [createZaiPlugin()],
			clock,
			env: { ZAI_API_KEY: "zai-from-env" },
		});
		await storage.reload();
		expect(await storage.getApiKey(PROVIDER, "s1")).toBe("zai-from-env");
	});
});
