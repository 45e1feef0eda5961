import { type AuthCredential, AuthStorage, createMemoryStore, type ProviderPlugin } from "@authpool/core";
import { type FakeProvider, startFakeProvider } from "@authpool/fake-provider";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createOllamaCloudPlugin, createOllamaPlugin } from "./ollama-plugin";

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

const cases: Array<{ provider: "ollama" | "ollama-cloud"; plugin: () => ProviderPlugin; envVar: string }> = [
	{ provider: "ollama", plugin: createOllamaPlugin, envVar: "OLLAMA_API_KEY" },
	{ provider: "ollama-cloud", plugin: createOllamaCloudPlugin, envVar: "OLLAMA_CLOUD_API_KEY" },
];

describe.each(cases)("$provider end to end through AuthStorage", ({ provider, plugin, envVar }) => {
	function infer(key: string): Promise<Response> {
		return fetch(`${fake.baseUrl(provider)}/inference`, {
			method: "POST",
			headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
			body: JSON.stringify({ model: "gpt-oss:120b" }),
		});
	}

	it("hands out a stored key and moves the session to the sibling after a 429", async () => {
		const alice = fake.addAccount(provider, { quota: 1 });
		const bob = fake.addAccount(provider, { quota: 1 });
		storage = new AuthStorage(createMemoryStore({ clock }), {
			providers: [plugin()],
			clock,
			env: {},
			fetch: globalThis.fetch,
		});
		await storage.reload();
		await storage.set(provider, [alice.credential as AuthCredential, bob.credential as AuthCredential]);

		const first = await storage.getApiKey(provider, "s1");
		expect([alice.apiKey, bob.apiKey]).toContain(first);
		const sibling = first === alice.apiKey ? bob : alice;
		expect(await storage.getApiKey(provider, "s1")).toBe(first);

		expect((await infer(first!)).status).toBe(200);
		const limited = await infer(first!);
		expect(limited.status).toBe(429);
		const retryAfterMs = Number(limited.headers.get("retry-after")) * 1000;

		const mark = await storage.markUsageLimitReached(provider, "s1", { retryAfterMs });
		expect(mark).toEqual({ switched: true });

		const second = await storage.getApiKey(provider, "s1");
		expect(second).toBe(sibling.apiKey);
		expect((await infer(second!)).status).toBe(200);

		// No quota API: the pool never calls the provider for usage, yet both accounts show up in usage views.
		expect(fake.count(provider, "usage")).toBe(0);
		const reports = await storage.fetchUsageReports();
		expect(reports.filter((r) => r.provider === provider)).toHaveLength(2);
		expect(reports.every((r) => r.limits.length === 0 && r.notes?.length === 1)).toBe(true);
	});

	it(`falls back to ${envVar} when nothing is stored`, async () => {
		storage = new AuthStorage(createMemoryStore({ clock }), {
			providers: [plugin()],
			clock,
			env: { [envVar]: "ollama-env-key" },
		});
		await storage.reload();
		expect(await storage.getApiKey(provider, "s1")).toBe("ollama-env-key");
	});
});
