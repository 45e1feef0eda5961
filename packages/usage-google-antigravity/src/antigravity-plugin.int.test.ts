import { type AuthCredential, AuthStorage, createMemoryStore } from "@authpool/core";
import { type FakeProvider, startFakeProvider } from "@authpool/fake-provider";
import { describePoolRotation } from "@authpool/fake-provider/plugin-kit";
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

describePoolRotation({
	provider: PROVIDER,
	title: "google-antigravity end to end through AuthStorage: rotation",
	makePlugin: (target) =>
		createAntigravityPlugin({
			endpoints: { tokenUrl: `${target.baseUrl(PROVIDER)}/token`, endpoints: [target.baseUrl(PROVIDER)] },
		}),
	core: { AuthStorage, createMemoryStore },
	clock,
	expired: "both",
	model: MODEL,
	perModel: true,
	accountSpec: (name) => ({ email: `${name}@example.com` }),
	tokenOf,
});

describe("google-antigravity end to end through AuthStorage", () => {
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
