import {
	MIN_TOKEN_LIFETIME_MS,
	type OAuthCredential,
	OAuthRefreshError,
	type PluginContext,
	silentLogger,
} from "@authpool/core";
import { type FakeProvider, startFakeProvider } from "@authpool/fake-provider";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createAnthropicPlugin } from "./anthropic-plugin";
import { fixedClock } from "./test-support";

const NOW = Date.UTC(2026, 5, 30, 12, 0, 0);
const clock = fixedClock(NOW);
let fake: FakeProvider;

beforeEach(async () => {
	clock.set(NOW);
	fake = await startFakeProvider({ now: () => clock.now() });
});
afterEach(async () => {
	await fake.close();
});

const context = (signal: AbortSignal = new AbortController().signal): PluginContext => ({
	fetch: globalThis.fetch,
	clock,
	logger: silentLogger,
	env: {},
	signal,
});

function refresh(credential: OAuthCredential, signal?: AbortSignal) {
	const base = fake.baseUrl("anthropic");
	const plugin = createAnthropicPlugin({
		endpoints: {
			tokenUrl: `${base}/v1/oauth/token`,
			usageBaseUrl: `${base}/api/oauth`,
			bootstrapUrl: `${base}/api/claude_cli/bootstrap`,
		},
		clientId: "test-client",
	});
	return (plugin.oauth?.refresh(credential, context(signal)) ?? Promise.reject(new Error("no oauth"))).then(
		(result) => ({ result, error: undefined }),
		(error: unknown) => ({ result: undefined, error }),
	);
}

describe("anthropic refresh against token-endpoint faults", () => {
	it("a redirect is transient and the refresh token never reaches the redirect target", async () => {
		const other = await startFakeProvider();
		try {
			other.addAccount("anthropic");
			const account = fake.addAccount("anthropic");
			fake.failNext("anthropic", "token", {
				mode: "redirect",
				location: `${other.baseUrl("anthropic")}/v1/oauth/token`,
			});
			const { error } = await refresh(account.credential as OAuthCredential);
			expect(OAuthRefreshError.isInstance(error)).toBe(true);
			expect(error).toMatchObject({ definitive: false, status: 307 });
			expect(other.requests).toHaveLength(0);
		} finally {
			await other.close();
		}
	});

	it("an endless body is a transient failure", async () => {
		const account = fake.addAccount("anthropic");
		fake.failNext("anthropic", "token", { mode: "endlessBody" });
		const { error } = await refresh(account.credential as OAuthCredential);
		expect(error).toMatchObject({ definitive: false, status: 200 });
		expect((error as Error).message).toContain("exceeds");
	});

	it("a 403 HTML page is transient with its status", async () => {
		const account = fake.addAccount("anthropic");
		fake.failNext("anthropic", "token", { mode: "htmlForbidden" });
		const { error } = await refresh(account.credential as OAuthCredential);
		expect(error).toMatchObject({ definitive: false, status: 403 });
	});

	it("an error that echoes the refresh token leaks it neither into message nor errorCode", async () => {
		const account = fake.addAccount("anthropic");
		const credential = account.credential as OAuthCredential;
		fake.failNext("anthropic", "token", { mode: "echoRefreshToken" });
		const { error } = await refresh(credential);
		expect(OAuthRefreshError.isInstance(error)).toBe(true);
		const { message, errorCode } = error as OAuthRefreshError;
		expect(errorCode).toBeUndefined();
		expect(message).not.toContain(credential.refresh);
		expect(message).not.toContain(credential.access);
	});

	it("expires_in 0 still yields a token that outlives the refresher's skew", async () => {
		const account = fake.addAccount("anthropic");
		fake.failNext("anthropic", "token", { mode: "zeroExpiry" });
		const { result } = await refresh(account.credential as OAuthCredential);
		expect(result?.access).toBe(account.accessToken);
		expect(result?.expires).toBe(NOW + MIN_TOKEN_LIFETIME_MS);
	});

	it("a late answer past the caller's abort: the grant is spent on the provider side", async () => {
		const account = fake.addAccount("anthropic");
		const before = account.credential as OAuthCredential;
		fake.failNext("anthropic", "token", { mode: "late", delayMs: 200 });
		const controller = new AbortController();
		const pending = refresh(before, controller.signal);
		await expect.poll(() => fake.refreshCount(account.id), { interval: 5, timeout: 1_000 }).toBe(1);
		controller.abort();
		const { error } = await pending;
		expect((error as Error).name).toBe("AbortError");
		// The old refresh token is dead now: a retry with it is a definitive invalid_grant.
		const retry = await refresh(before);
		expect(retry.error).toMatchObject({ definitive: true, errorCode: "invalid_grant" });
	});
});
