import {
	AuthpoolError,
	MIN_TOKEN_LIFETIME_MS,
	type OAuthCredential,
	OAuthRefreshError,
	type PluginContext,
	silentLogger,
} from "@authpool/core";
import { type FakeProvider, startFakeProvider } from "@authpool/fake-provider";
import { describeOAuthRefresh } from "@authpool/fake-provider/plugin-kit";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createKimiPlugin, KIMI_CLIENT_ID } from "./kimi-plugin";

const PROVIDER = "kimi-code";
const NOW = Date.parse("2026-06-30T12:00:00Z");
const FIVE_MINUTES = 300_000;
let fake: FakeProvider;

beforeAll(async () => {
	fake = await startFakeProvider({ now: () => NOW });
});
afterAll(async () => {
	await fake.close();
});
beforeEach(() => {
	fake.reset();
});

function ctx(signal: AbortSignal = new AbortController().signal): PluginContext {
	return { fetch: globalThis.fetch, clock: { now: () => NOW }, logger: silentLogger, env: {}, signal };
}

function stored(credential: { access: string; refresh: string; expires: number }): OAuthCredential {
	return { type: "oauth", access: credential.access, refresh: credential.refresh, expires: credential.expires };
}

const plugin = (extra: Parameters<typeof createKimiPlugin>[0] = {}) =>
	createKimiPlugin({ endpoints: { oauthHost: fake.baseUrl(PROVIDER) }, ...extra });

describeOAuthRefresh({
	provider: PROVIDER,
	makePlugin: (target) => createKimiPlugin({ endpoints: { oauthHost: target.baseUrl(PROVIDER) } }),
	core: { OAuthRefreshError },
	clock: { now: () => NOW },
	expirySkewMs: FIVE_MINUTES,
	credentialOf: (account) => stored(account.credential as OAuthCredential),
	verifySuccess: ({ before, request }) => {
		expect(request.headers["content-type"]).toBe("application/x-www-form-urlencoded");
		expect(request.body).toEqual({
			grant_type: "refresh_token",
			refresh_token: before.refresh,
			client_id: KIMI_CLIENT_ID,
		});
		expect(request.headers["x-msh-platform"]).toBe("kimi_cli");
	},
});

describe("kimi-code oauth.refresh against the fake provider", () => {
	it("clamps expires_in 0 to the minimum lifetime instead of an already-expired token", async () => {
		const account = fake.addAccount(PROVIDER);
		fake.failNext(PROVIDER, "token", { mode: "zeroExpiry" });
		const result = await plugin().oauth?.refresh(stored(account.credential as OAuthCredential), ctx());
		expect(result?.access).toBe(account.accessToken);
		expect(result?.expires).toBe(NOW + MIN_TOKEN_LIFETIME_MS);
	});

	it("honours KIMI_CODE_OAUTH_HOST over the configured host", async () => {
		const account = fake.addAccount(PROVIDER);
		const elsewhere = createKimiPlugin({ endpoints: { oauthHost: "http://127.0.0.1:1" } });
		const result = await elsewhere.oauth!.refresh(stored(account.credential as OAuthCredential), {
			...ctx(),
			env: { KIMI_CODE_OAUTH_HOST: fake.baseUrl(PROVIDER) },
		});
		expect(result.access).toBe(account.accessToken);
	});
});

describe("kimi-code device login against the fake provider", () => {
	it("shows the code, polls through authorization_pending and returns the approved account's tokens", async () => {
		const waits: number[] = [];
		let approved: ReturnType<FakeProvider["approveDeviceCode"]> | undefined;
		const shown: Array<{ url: string; instructions?: string }> = [];
		const login = plugin({
			pollWait: async (ms) => {
				waits.push(ms);
				// Approve after two pending answers, to exercise the polling loop.
				if (waits.length === 3) {
					const pending = fake.pendingDeviceCodes(PROVIDER)[0]!;
					approved = fake.approveDeviceCode(pending.userCode, { email: "kim@example.com" });
				}
			},
		}).oauth!.login!;
		const result = await login({ onAuth: (info) => shown.push(info) }, ctx());

		expect(shown).toHaveLength(1);
		expect(shown[0]!.url).toContain(fake.baseUrl(PROVIDER));
		expect(shown[0]!.instructions).toMatch(/^Enter code: \S+/);
		expect(waits).toEqual([5000, 5000, 5000]);
		const device = fake.requests.find((r) => r.endpoint === "deviceCode");
		expect(device?.body).toEqual({ client_id: KIMI_CLIENT_ID });
		const polls = fake.requests.filter((r) => r.endpoint === "token");
		expect(polls.map((r) => r.status)).toEqual([400, 400, 200]);
		expect(polls[0]?.body).toMatchObject({
			grant_type: "urn:ietf:params:oauth:grant-type:device_code",
			client_id: KIMI_CLIENT_ID,
		});
		expect(result).toEqual({
			access: approved!.accessToken,
			refresh: approved!.refreshToken,
			expires: approved!.expiresAt - FIVE_MINUTES,
		});
	});

	it("adds 5 s to the poll interval on slow_down", async () => {
		const waits: number[] = [];
		const login = plugin({
			pollWait: async (ms) => {
				waits.push(ms);
				if (waits.length === 1) {
					fake.failNext(PROVIDER, "token", { status: 400, body: { error: "slow_down" } });
				}
				if (waits.length === 2) fake.approveDeviceCode(fake.pendingDeviceCodes(PROVIDER)[0]!.userCode);
			},
		}).oauth!.login!;
		const result = await login({ onAuth: () => {} }, ctx());
		expect(typeof result).toBe("object");
		expect(waits).toEqual([5000, 10_000]);
	});

	it("fails with the denial when the user refuses", async () => {
		const login = plugin({
			pollWait: async () => {
				const pending = fake.pendingDeviceCodes(PROVIDER)[0];
				if (pending) fake.denyDeviceCode(pending.userCode);
			},
		}).oauth!.login!;
		const error = await login({ onAuth: () => {} }, ctx()).catch((e: unknown) => e);
		expect(AuthpoolError.isInstance(error) && error.code).toBe("UPSTREAM_ERROR");
		expect((error as AuthpoolError).details).toMatchObject({ errorCode: "access_denied" });
		expect(fake.accounts(PROVIDER)).toHaveLength(0);
	});

	it("fails with TIMEOUT when the device code expired", async () => {
		const login = plugin({
			pollWait: async () => {
				fake.failNext(PROVIDER, "token", { status: 400, body: { error: "expired_token" } });
			},
		}).oauth!.login!;
		const error = await login({ onAuth: () => {} }, ctx()).catch((e: unknown) => e);
		expect(AuthpoolError.isInstance(error) && error.code).toBe("TIMEOUT");
	});

	it("gives up after repeated 5xx answers instead of polling forever", async () => {
		const login = plugin({ pollWait: async () => {} }).oauth!.login!;
		fake.failNext(PROVIDER, "token", { status: 502, times: Number.POSITIVE_INFINITY });
		const error = await login({ onAuth: () => {} }, ctx()).catch((e: unknown) => e);
		expect(AuthpoolError.isInstance(error) && error.code).toBe("UPSTREAM_ERROR");
		expect(fake.count(PROVIDER, "token")).toBe(5);
	});

	it("stops with ABORTED when the signal aborts during the wait", async () => {
		const controller = new AbortController();
		const login = plugin().oauth!.login!;
		const pending = login({ onAuth: () => controller.abort() }, ctx(controller.signal)).catch((e: unknown) => e);
		const error = await pending;
		expect(AuthpoolError.isInstance(error) && error.code).toBe("ABORTED");
		expect(fake.count(PROVIDER, "token")).toBe(0);
	});

	it("reports a refused device authorization", async () => {
		fake.failNext(PROVIDER, "deviceCode", { status: 400, body: { error: "invalid_client" } });
		const error = await plugin({ pollWait: async () => {} }).oauth!.login!({ onAuth: () => {} }, ctx()).catch(
			(e: unknown) => e,
		);
		expect(AuthpoolError.isInstance(error) && error.code).toBe("UPSTREAM_ERROR");
		expect((error as Error).message).toMatch(/HTTP 400/);
	});
});
