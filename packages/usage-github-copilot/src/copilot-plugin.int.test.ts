import { type AuthCredential, AuthStorage, createMemoryStore } from "@authpool/core";
import { type FakeProvider, startFakeProvider } from "@authpool/fake-provider";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { COPILOT_TOKEN_LIFETIME_MS } from "./copilot-oauth";
import { createGithubCopilotPlugin } from "./copilot-plugin";

const PROVIDER = "github-copilot";
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
		body: JSON.stringify({ model: "claude-sonnet-4" }),
	});
}

describe("github-copilot end to end through AuthStorage", () => {
	it("re-stamps an expired row without a network call and rotates to the sibling after a 429", async () => {
		const alice = fake.addAccount(PROVIDER, { accountId: "alice", quota: 1 });
		const bob = fake.addAccount(PROVIDER, { accountId: "bob", quota: 1 });
		const plugin = createGithubCopilotPlugin({
			endpoints: { githubApiBaseUrl: fake.baseUrl(PROVIDER), githubBaseUrl: fake.baseUrl(PROVIDER) },
		});
		storage = new AuthStorage(createMemoryStore({ clock }), { providers: [plugin], clock, env: {} });
		await storage.reload();
		// Rows imported from elsewhere may carry a stale expiry; the plugin's refresh just re-stamps them.
		const stale = (credential: AuthCredential): AuthCredential =>
			({ ...credential, expires: now - 1 }) as AuthCredential;
		await storage.set(PROVIDER, [stale(alice.credential as AuthCredential), stale(bob.credential as AuthCredential)]);

		const session = "session-1";
		const first = tokenOf(await storage.getApiKey(PROVIDER, session));
		const firstAccount = fake.account(first);
		expect(firstAccount).toBeDefined();
		const sibling = firstAccount!.id === alice.id ? bob : alice;
		const refreshedRow = storage
			.listStoredCredentials(PROVIDER)
			.find((row) => row.credential.type === "oauth" && row.credential.access === first);
		expect(refreshedRow?.credential).toMatchObject({ expires: now + COPILOT_TOKEN_LIFETIME_MS });

		expect((await infer(first)).status).toBe(200);
		const limited = await infer(first);
		expect(limited.status).toBe(429);
		const retryAfterMs = Number(limited.headers.get("retry-after")) * 1000;

		const mark = await storage.markUsageLimitReached(PROVIDER, session, { retryAfterMs });
		expect(mark.switched).toBe(true);

		const second = tokenOf(await storage.getApiKey(PROVIDER, session));
		expect(fake.account(second)?.id).toBe(sibling.id);
		expect((await infer(second)).status).toBe(200);
		// Copilot has no token endpoint call on refresh.
		expect(fake.count(PROVIDER, "token")).toBe(0);
	});

	it("falls back to COPILOT_GITHUB_TOKEN when nothing is stored", async () => {
		const plugin = createGithubCopilotPlugin();
		storage = new AuthStorage(createMemoryStore({ clock }), {
			providers: [plugin],
			clock,
			env: { COPILOT_GITHUB_TOKEN: "gho_from_env" },
		});
		await storage.reload();
		expect(await storage.getApiKey(PROVIDER)).toBe("gho_from_env");
	});
});
