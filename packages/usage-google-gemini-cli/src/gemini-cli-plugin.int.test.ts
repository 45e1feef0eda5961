import { AuthStorage, createMemoryStore } from "@authpool/core";
import { type FakeProvider, startFakeProvider } from "@authpool/fake-provider";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createGeminiCliPlugin } from "./gemini-cli-plugin";

const PROVIDER = "google-gemini-cli";
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
	const blob = JSON.parse(apiKey as string) as { token: string; refreshToken?: string };
	expect(blob.refreshToken).toBeUndefined();
	return blob.token;
}

async function infer(token: string): Promise<Response> {
	return fetch(`${fake.baseUrl(PROVIDER)}/inference`, {
		method: "POST",
		headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
		body: JSON.stringify({ model: "gemini-2.5-pro" }),
	});
}

describe("google-gemini-cli end to end through AuthStorage", () => {
	it("hands out refreshed tokens and rotates to the sibling account after a 429", async () => {
		// Both start expired so whichever row a session lands on must be refreshed first.
		const alice = fake.addAccount(PROVIDER, { email: "alice@example.com", quota: 1, expiresAt: now - 1 });
		const bob = fake.addAccount(PROVIDER, { email: "bob@example.com", quota: 1, expiresAt: now - 1 });
		const plugin = createGeminiCliPlugin({
			endpoints: { tokenUrl: `${fake.baseUrl(PROVIDER)}/token`, codeAssistBaseUrl: fake.baseUrl(PROVIDER) },
		});
		storage = new AuthStorage(createMemoryStore({ clock }), { providers: [plugin], clock, env: {} });
		await storage.reload();
		await storage.set(PROVIDER, [alice.credential as never, bob.credential as never]);

		const session = "session-1";
		const first = tokenOf(await storage.getApiKey(PROVIDER, session));
		const firstAccount = fake.account(first);
		expect(firstAccount).toBeDefined();
		expect(fake.refreshCount(firstAccount!.id)).toBe(1);
		expect(first).toBe(firstAccount!.accessToken);
		const sibling = firstAccount!.id === alice.id ? bob : alice;

		expect((await infer(first)).status).toBe(200);
		const limited = await infer(first);
		expect(limited.status).toBe(429);
		const retryAfterMs = Number(limited.headers.get("retry-after")) * 1000;

		const mark = await storage.markUsageLimitReached(PROVIDER, session, { retryAfterMs });
		expect(mark.switched).toBe(true);

		const second = tokenOf(await storage.getApiKey(PROVIDER, session));
		expect(fake.account(second)?.id).toBe(sibling.id);
		expect(fake.refreshCount(sibling.id)).toBe(1);
		expect((await infer(second)).status).toBe(200);

		// The session stays on the sibling while the first account is blocked; no extra refresh.
		expect(tokenOf(await storage.getApiKey(PROVIDER, session))).toBe(second);
		expect(fake.refreshCount()).toBe(2);
	});
});
