import { type AuthCredential, AuthStorage, createMemoryStore } from "@authpool/core";
import { type FakeProvider, startFakeProvider } from "@authpool/fake-provider";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createAntigravityPlugin } from "./antigravity-plugin";

const PROVIDER = "google-antigravity";
const MODEL = "gemini-3.1-pro";
const now = Date.parse("2026-06-30T12:00:00Z");
const clock = { now: () => now };
let fake: FakeProvider;
let storage: AuthStorage;

beforeEach(async () => {
	fake = await startFakeProvider({ now: () => now });
});
afterEach(async () => {
	await storage?.close();
	await fake.close();
});

function tokenOf(apiKey: string | undefined): string {
	expect(apiKey).toBeDefined();
	const blob = JSON.parse(apiKey as string) as { token: string; projectId?: string; refreshToken?: string };
	expect(blob.projectId).toMatch(/^fake-project-/);
	expect(blob.refreshToken).toBeUndefined();
	return blob.token;
}

async function infer(token: string): Promise<Response> {
	return fetch(`${fake.baseUrl(PROVIDER)}/inference`, {
		method: "POST",
		headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
		body: JSON.stringify({ model: MODEL }),
	});
}

describe("google-antigravity end to end through AuthStorage", () => {
	it("ranks by usage, refreshes an expired row, and rotates to the sibling after a 429", async () => {
		const alice = fake.addAccount(PROVIDER, { email: "alice@example.com", quota: 1, expiresAt: now - 1 });
		const bob = fake.addAccount(PROVIDER, { email: "bob@example.com", quota: 1, expiresAt: now - 1 });
		const plugin = createAntigravityPlugin({
			endpoints: { tokenUrl: `${fake.baseUrl(PROVIDER)}/token`, endpoints: [fake.baseUrl(PROVIDER)] },
		});
		storage = new AuthStorage(createMemoryStore({ clock }), { providers: [plugin], clock, env: {} });
		await storage.reload();
		await storage.set(PROVIDER, [alice.credential as AuthCredential, bob.credential as AuthCredential]);

		const session = "session-1";
		const first = tokenOf(await storage.getApiKey(PROVIDER, session, { modelId: MODEL }));
		const firstAccount = fake.account(first);
		expect(firstAccount).toBeDefined();
		expect(first).toBe(firstAccount!.accessToken);
		expect(fake.refreshCount(firstAccount!.id)).toBe(1);
		const sibling = firstAccount!.id === alice.id ? bob : alice;

		expect((await infer(first)).status).toBe(200);
		const limited = await infer(first);
		expect(limited.status).toBe(429);
		const retryAfterMs = Number(limited.headers.get("retry-after")) * 1000;

		const mark = await storage.markUsageLimitReached(PROVIDER, session, { retryAfterMs, modelId: MODEL });
		expect(mark.switched).toBe(true);

		const second = tokenOf(await storage.getApiKey(PROVIDER, session, { modelId: MODEL }));
		expect(fake.account(second)?.id).toBe(sibling.id);
		expect(fake.refreshCount(sibling.id)).toBe(1);
		expect((await infer(second)).status).toBe(200);
	});

	it("prefers the account with more headroom on the requested model's counter", async () => {
		// Alice: Gemini counter nearly spent, Claude fresh. Bob: the reverse.
		const alice = fake.addAccount(PROVIDER, {
			usage: { buckets: { "gemini-3.1-pro": { usedPercent: 90 }, "claude-sonnet-4-6": { usedPercent: 0 } } },
		});
		const bob = fake.addAccount(PROVIDER, {
			usage: { buckets: { "gemini-3.1-pro": { usedPercent: 10 }, "claude-sonnet-4-6": { usedPercent: 95 } } },
		});
		const plugin = createAntigravityPlugin({
			endpoints: { tokenUrl: `${fake.baseUrl(PROVIDER)}/token`, endpoints: [fake.baseUrl(PROVIDER)] },
		});
		storage = new AuthStorage(createMemoryStore({ clock }), { providers: [plugin], clock, env: {} });
		await storage.reload();
		await storage.set(PROVIDER, [alice.credential as AuthCredential, bob.credential as AuthCredential]);

		expect(tokenOf(await storage.getApiKey(PROVIDER, undefined, { modelId: MODEL }))).toBe(bob.accessToken);
		expect(tokenOf(await storage.getApiKey(PROVIDER, undefined, { modelId: "claude-sonnet-4-6" }))).toBe(
			alice.accessToken,
		);
		expect(fake.count(PROVIDER, "fetchAvailableModels")).toBeGreaterThanOrEqual(2);
	});
});
