import { type OAuthCredential, OAuthRefreshError, type PluginContext, silentLogger } from "@authpool/core";
import { type FakeProvider, startFakeProvider } from "@authpool/fake-provider";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createAnthropicPlugin } from "./anthropic-plugin";
import { fixedClock } from "./test-support";

const NOW = Date.UTC(2026, 5, 30, 12, 0, 0);
const clock = fixedClock(NOW);
let fake: FakeProvider;

beforeEach(async () => {
	clock.set(NOW);
	fake = await startFakeProvider({ now: () => clock.now(), accessTokenTtlMs: 3_600_000 });
});
afterEach(async () => {
	await fake.close();
});

function plugin() {
	const base = fake.baseUrl("anthropic");
	return createAnthropicPlugin({
		endpoints: {
			tokenUrl: `${base}/v1/oauth/token`,
			usageBaseUrl: `${base}/api/oauth`,
			bootstrapUrl: `${base}/api/claude_cli/bootstrap`,
		},
		clientId: "test-client",
	});
}

function context(signal: AbortSignal = new AbortController().signal): PluginContext {
	return { fetch: globalThis.fetch, clock, logger: silentLogger, env: {}, signal };
}

async function refreshError(credential: OAuthCredential, signal?: AbortSignal): Promise<unknown> {
	try {
		await plugin().oauth?.refresh(credential, context(signal));
	} catch (error) {
		return error;
	}
	throw new Error("refresh unexpectedly succeeded");
}

describe("anthropic oauth refresh", () => {
	it("posts a JSON refresh grant and returns rotated tokens, 5-minute-skewed expiry and identity", async () => {
		const account = fake.addAccount("anthropic", { email: "alice@example.com", accountId: "uuid-alice" });
		const before = account.credential as OAuthCredential;
		const result = await plugin().oauth?.refresh(before, context());

		expect(result).toEqual({
			access: account.accessToken,
			refresh: account.refreshToken,
			expires: NOW + 3_600_000 - 5 * 60_000,
			accountId: "uuid-alice",
			email: "alice@example.com",
		});
		expect(result?.refresh).not.toBe(before.refresh);
		const request = fake.requests.find((entry) => entry.endpoint === "token");
		expect(request?.headers["content-type"]).toBe("application/json");
		expect(request?.headers["anthropic-beta"]).toBe("oauth-2025-04-20");
		expect(request?.body).toEqual({
			grant_type: "refresh_token",
			client_id: "test-client",
			refresh_token: before.refresh,
		});
		expect(fake.count("anthropic", "bootstrap")).toBe(0);
	});

	it("reusing a rotated refresh token is a definitive failure", async () => {
		const account = fake.addAccount("anthropic");
		const old = account.credential as OAuthCredential;
		await plugin().oauth?.refresh(old, context());
		const error = await refreshError(old);
		expect(OAuthRefreshError.isInstance(error)).toBe(true);
		expect((error as OAuthRefreshError).definitive).toBe(true);
		expect((error as OAuthRefreshError).message).toContain("invalid_grant");
		expect((error as OAuthRefreshError).message).not.toContain(old.refresh);
	});

	it("falls back to the bootstrap endpoint for identity the token response lacks", async () => {
		const account = fake.addAccount("anthropic", {
			email: "bob@example.com",
			accountId: "uuid-bob",
			identityInTokenResponse: false,
		});
		const result = await plugin().oauth?.refresh(account.credential as OAuthCredential, context());
		expect(result).toMatchObject({ accountId: "uuid-bob", email: "bob@example.com" });
		const bootstrap = fake.requests.find((entry) => entry.endpoint === "bootstrap");
		expect(bootstrap?.headers.authorization).toBe(`Bearer ${account.accessToken}`);
	});

	it("keeps the refreshed tokens when the bootstrap fallback fails", async () => {
		const account = fake.addAccount("anthropic", { identityInTokenResponse: false });
		fake.failNext("anthropic", "bootstrap", { status: 500 });
		const result = await plugin().oauth?.refresh(account.credential as OAuthCredential, context());
		expect(result?.access).toBe(account.accessToken);
		expect(result?.refresh).toBe(account.refreshToken);
	});

	it("a revoked grant is definitive; a 5xx is transient and rotates nothing", async () => {
		const account = fake.addAccount("anthropic");
		const credential = account.credential as OAuthCredential;
		fake.failNext("anthropic", "token", { status: 503 });
		const transient = await refreshError(credential);
		expect(OAuthRefreshError.isInstance(transient)).toBe(true);
		expect((transient as OAuthRefreshError).definitive).toBe(false);
		expect(account.refreshToken).toBe(credential.refresh);

		fake.revoke(account.id);
		const definitive = await refreshError(credential);
		expect((definitive as OAuthRefreshError).definitive).toBe(true);
	});

	it("a network error is transient", async () => {
		const account = fake.addAccount("anthropic");
		fake.failNext("anthropic", "token", { destroy: true });
		const error = await refreshError(account.credential as OAuthCredential);
		expect((error as OAuthRefreshError).definitive).toBe(false);
	});

	it("a hanging token endpoint gives up as soon as the caller aborts", async () => {
		const account = fake.addAccount("anthropic");
		fake.failNext("anthropic", "token", { hang: true });
		const controller = new AbortController();
		const pending = refreshError(account.credential as OAuthCredential, controller.signal);
		setTimeout(() => controller.abort(), 20);
		const error = await pending;
		expect(error).toBeDefined();
		expect(OAuthRefreshError.isInstance(error) && (error as OAuthRefreshError).definitive).toBe(false);
		expect(fake.refreshCount(account.id)).toBe(0);
	});
});

describe("anthropic paste-code login", () => {
	it("shows a PKCE authorize URL and exchanges the pasted code#state", async () => {
		const oauth = plugin().oauth;
		let shownUrl = "";
		let prompted = "";
		const result = await oauth?.login?.(
			{
				onAuth: ({ url }) => {
					shownUrl = url;
				},
				onPrompt: async ({ message }) => {
					prompted = message;
					const state = new URL(shownUrl).searchParams.get("state");
					const { code } = fake.createAuthorizationCode("anthropic", { email: "carol@example.com" });
					return `${code}#${state}`;
				},
			},
			context(),
		);
		const authorize = new URL(shownUrl);
		expect(authorize.origin + authorize.pathname).toBe("https://claude.ai/oauth/authorize");
		expect(authorize.searchParams.get("code_challenge_method")).toBe("S256");
		expect(authorize.searchParams.get("client_id")).toBe("test-client");
		expect(prompted).toMatch(/authorization code/i);
		expect(result).toMatchObject({ email: "carol@example.com", expires: NOW + 3_600_000 - 5 * 60_000 });
		const exchange = fake.requests.find((entry) => entry.endpoint === "token");
		expect(exchange?.body).toMatchObject({ grant_type: "authorization_code", client_id: "test-client" });
		expect(typeof (exchange?.body as Record<string, unknown> | undefined)?.code_verifier).toBe("string");
	});

	it("rejects a code pasted from another login attempt", async () => {
		const oauth = plugin().oauth;
		await expect(
			oauth?.login?.({ onAuth: () => {}, onPrompt: async () => "some-code#other-state" }, context()),
		).rejects.toThrow(/another login attempt/);
		expect(fake.count("anthropic", "token")).toBe(0);
	});
});
