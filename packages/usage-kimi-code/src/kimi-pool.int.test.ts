import { type AuthCredential, AuthStorage, createMemoryStore } from "@authpool/core";
import { type FakeProvider, startFakeProvider } from "@authpool/fake-provider";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createKimiPlugin } from "./kimi-plugin";

const PROVIDER = "kimi-code";
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
		headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
		body: JSON.stringify({ model: "kimi-for-coding" }),
	});
}

function kimiPlugin(pollWait?: () => Promise<void>) {
	const base = fake.baseUrl(PROVIDER);
	return createKimiPlugin({
		endpoints: { oauthHost: base, usageBaseUrl: `${base}/coding/v1` },
		...(pollWait ? { pollWait } : {}),
	});
}

describe("kimi-code end to end through AuthStorage", () => {
	it("refreshes the expired account via the fake and rotates to the sibling after a 429", async () => {
		const fresh = fake.addAccount(PROVIDER, { quota: 1 });
		const expired = fake.addAccount(PROVIDER, { quota: 1, expiresAt: now - 1 });
		const expiredAccess = expired.accessToken;
		storage = new AuthStorage(createMemoryStore({ clock }), {
			providers: [kimiPlugin()],
			clock,
			env: {},
			fetch: globalThis.fetch,
		});
		await storage.reload();
		await storage.set(PROVIDER, [fresh.credential as AuthCredential, expired.credential as AuthCredential]);

		const first = await storage.getApiKey(PROVIDER, "s1");
		expect(first).toBeDefined();
		const firstAccount = fake.account(first!);
		expect([fresh.id, expired.id]).toContain(firstAccount?.id);
		const sibling = firstAccount!.id === fresh.id ? expired : fresh;
		// The pinned session keeps its account.
		expect(await storage.getApiKey(PROVIDER, "s1")).toBe(first);

		expect((await infer(first!)).status).toBe(200);
		const limited = await infer(first!);
		expect(limited.status).toBe(429);
		const retryAfterMs = Number(limited.headers.get("retry-after")) * 1000;
		expect(retryAfterMs).toBeGreaterThan(0);

		const mark = await storage.markUsageLimitReached(PROVIDER, "s1", { retryAfterMs });
		expect(mark).toEqual({ switched: true });

		const second = await storage.getApiKey(PROVIDER, "s1");
		expect(fake.account(second!)?.id).toBe(sibling.id);
		expect((await infer(second!)).status).toBe(200);

		// Whichever turn it came up, the expired account was handed out only after one refresh via the fake.
		const expiredToken = firstAccount!.id === expired.id ? first : second;
		expect(expiredToken).not.toBe(expiredAccess);
		expect(expiredToken).toBe(expired.accessToken);
		expect(fake.refreshCount(expired.id)).toBe(1);
		expect(fake.refreshCount(fresh.id)).toBe(0);
		// The rotated refresh token was persisted: the stored row carries the fake's current one.
		const row = storage
			.listStoredCredentials(PROVIDER)
			.find((r) => r.credential.type === "oauth" && r.credential.access === expired.accessToken);
		expect(row?.credential).toMatchObject({ refresh: expired.refreshToken });

		// The blocked account stays skipped for a new session too, until its window resets.
		const other = await storage.getApiKey(PROVIDER, "s2");
		expect(fake.account(other!)?.id).toBe(sibling.id);
	});

	it("stores the account a device login returns and hands out its token", async () => {
		let approved: ReturnType<FakeProvider["approveDeviceCode"]> | undefined;
		const approveFirstPending = async () => {
			const pending = fake.pendingDeviceCodes(PROVIDER)[0];
			if (pending) approved = fake.approveDeviceCode(pending.userCode);
		};
		storage = new AuthStorage(createMemoryStore({ clock }), {
			providers: [kimiPlugin(approveFirstPending)],
			clock,
			env: {},
		});
		await storage.reload();
		await storage.login(PROVIDER, { onAuth: () => {} });
		expect(approved).toBeDefined();
		expect(storage.listStoredCredentials(PROVIDER)).toHaveLength(1);
		expect(await storage.getApiKey(PROVIDER, "s1")).toBe(approved!.accessToken);
		expect(fake.refreshCount()).toBe(0);
	});

	it("uses KIMI_API_KEY when nothing is stored", async () => {
		storage = new AuthStorage(createMemoryStore({ clock }), {
			providers: [kimiPlugin()],
			clock,
			env: { KIMI_API_KEY: "sk-kimi-env" },
		});
		await storage.reload();
		expect(await storage.getApiKey(PROVIDER, "s1")).toBe("sk-kimi-env");
	});
});
