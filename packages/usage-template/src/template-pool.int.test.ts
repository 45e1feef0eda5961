/**
 * The end-to-end test every plugin should have: the plugin inside a real `AuthStorage`, talking to
 * `@authpool/fake-provider` (a provider id the fake does not know gets a generic OAuth token endpoint
 * at `/oauth/token` and the shared `/inference` endpoint).
 */
import { type AuthCredential, AuthStorage, createMemoryStore } from "@authpool/core";
import { type FakeProvider, startFakeProvider } from "@authpool/fake-provider";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createAcmePlugin } from "./template-plugin";

const PROVIDER = "acme";
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

function infer(token: string): Promise<Response> {
	return fetch(`${fake.baseUrl(PROVIDER)}/inference`, {
		method: "POST",
		headers: { authorization: `Bearer ${token}` },
	});
}

describe("acme (template) end to end through AuthStorage", () => {
	it("refreshes an expired account, then rotates to the sibling after a 429", async () => {
		const alice = fake.addAccount(PROVIDER, { quota: 1, email: "alice@example.com", expiresAt: now - 1 });
		const bob = fake.addAccount(PROVIDER, { quota: 1, email: "bob@example.com", expiresAt: now - 1 });
		const staleTokens = new Set([alice.accessToken, bob.accessToken]);
		const base = fake.baseUrl(PROVIDER);
		storage = new AuthStorage(createMemoryStore({ clock }), {
			providers: [createAcmePlugin({ endpoints: { tokenUrl: `${base}/oauth/token`, apiBaseUrl: base } })],
			clock,
			env: {},
			fetch: globalThis.fetch,
		});
		await storage.reload();
		await storage.set(PROVIDER, [alice.credential as AuthCredential, bob.credential as AuthCredential]);

		const first = await storage.getApiKey(PROVIDER, "s1");
		const firstAccount = fake.account(first!);
		expect(staleTokens.has(first!)).toBe(false);
		expect(first).toBe(firstAccount?.accessToken);
		expect(fake.refreshCount(firstAccount!.id)).toBe(1);

		expect((await infer(first!)).status).toBe(200);
		const limited = await infer(first!);
		expect(limited.status).toBe(429);
		const mark = await storage.markUsageLimitReached(PROVIDER, "s1", {
			retryAfterMs: Number(limited.headers.get("retry-after")) * 1000,
		});
		expect(mark).toEqual({ switched: true });

		const second = await storage.getApiKey(PROVIDER, "s1");
		const secondAccount = fake.account(second!);
		expect(secondAccount?.id).not.toBe(firstAccount?.id);
		expect(second).toBe(secondAccount?.accessToken);
		expect(fake.refreshCount()).toBe(2);
		expect((await infer(second!)).status).toBe(200);
	});
});
