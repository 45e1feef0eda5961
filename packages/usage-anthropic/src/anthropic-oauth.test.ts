import { type OAuthCredential, OAuthRefreshError, type PluginContext, silentLogger } from "@authpool/core";
import { type FakeProvider, startFakeProvider } from "@authpool/fake-provider";
import { describeOAuthRefresh } from "@authpool/fake-provider/plugin-kit";
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
	return pluginAt(fake);
}

function pluginAt(target: FakeProvider) {
	const base = target.baseUrl("anthropic");
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

describeOAuthRefresh({
	provider: "anthropic",
	makePlugin: (target) => pluginAt(target),
	core: { OAuthRefreshError },
	clock,
	fakeOptions: { accessTokenTtlMs: 3_600_000 },
	expirySkewMs: 5 * 60_000,
	accountSpec: { email: "alice@example.com", accountId: "uuid-alice" },
	verifySuccess: ({ fake: target, account, before, result, request }) => {
		expect(result).toEqual({
			access: account.accessToken,
			refresh: account.refreshToken,
			expires: NOW + 3_600_000 - 5 * 60_000,
			accountId: "uuid-alice",
			email: "alice@example.com",
		});
		expect(request.headers["content-type"]).toBe("application/json");
		expect(request.headers["anthropic-beta"]).toBe("oauth-2025-04-20");
		expect(request.body).toEqual({
			grant_type: "refresh_token",
			client_id: "test-client",
			refresh_token: before.refresh,
		});
		expect(target.count("anthropic", "bootstrap")).toBe(0);
	},
});

describe("anthropic oauth refresh", () => {
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
