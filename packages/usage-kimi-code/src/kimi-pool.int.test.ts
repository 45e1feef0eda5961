import { AuthStorage, createMemoryStore } from "@authpool/core";
import { type FakeProvider, startFakeProvider } from "@authpool/fake-provider";
import { describePoolRotation } from "@authpool/fake-provider/plugin-kit";
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

function kimiPlugin(pollWait?: () => Promise<void>, target: FakeProvider = fake) {
	const base = target.baseUrl(PROVIDER);
	return createKimiPlugin({
		endpoints: { oauthHost: base, usageBaseUrl: `${base}/coding/v1` },
		...(pollWait ? { pollWait } : {}),
	});
}

// One row starts expired: whichever turn it comes up, it is handed out only after one refresh via the fake.
describePoolRotation({
	provider: PROVIDER,
	title: "kimi-code end to end through AuthStorage: rotation",
	makePlugin: (target) => kimiPlugin(undefined, target),
	core: { AuthStorage, createMemoryStore },
	clock,
	expired: "one",
	model: "kimi-for-coding",
	envApiKey: "KIMI_API_KEY",
});

describe("kimi-code end to end through AuthStorage", () => {
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
});
