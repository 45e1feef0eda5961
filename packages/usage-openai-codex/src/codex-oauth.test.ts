import { jwtIdentity, type OAuthCredential, OAuthRefreshError, type PluginContext, silentLogger } from "@authpool/core";
import { type FakeProvider, startFakeProvider } from "@authpool/fake-provider";
import { describeOAuthRefresh } from "@authpool/fake-provider/plugin-kit";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { createOpenAICodexPlugin } from "./openai-codex-plugin";
import { fixedClock, json, scriptedFetch } from "./test-support";

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
	const base = target.baseUrl("openai-codex");
	return createOpenAICodexPlugin({
		endpoints: { tokenUrl: `${base}/oauth/token`, usageBaseUrl: `${base}/backend-api` },
		clientId: "codex-test-client",
	});
}

function context(signal: AbortSignal = new AbortController().signal, fetch = globalThis.fetch): PluginContext {
	return { fetch, clock, logger: silentLogger, env: {}, signal };
}

async function refreshError(credential: OAuthCredential, ctx = context()): Promise<unknown> {
	try {
		await plugin().oauth?.refresh(credential, ctx);
	} catch (error) {
		return error;
	}
	throw new Error("refresh unexpectedly succeeded");
}

describeOAuthRefresh({
	provider: "openai-codex",
	makePlugin: (target) => pluginAt(target),
	core: { OAuthRefreshError },
	clock,
	fakeOptions: { accessTokenTtlMs: 3_600_000 },
	expirySkewMs: 0,
	transientStatus: 502,
	accountSpec: { email: "Alice@Example.com", accountId: "acct-alice" },
	verifySuccess: ({ account, before, result, request }) => {
		expect(result).toEqual({
			access: account.accessToken,
			refresh: account.refreshToken,
			expires: NOW + 3_600_000,
			accountId: "acct-alice",
			email: jwtIdentity(account.accessToken).email,
		});
		expect(result.email).toBe("alice@example.com");
		expect(request.headers["content-type"]).toBe("application/x-www-form-urlencoded");
		expect(request.body).toEqual({
			grant_type: "refresh_token",
			refresh_token: before.refresh,
			client_id: "codex-test-client",
		});
	},
});

describe("openai-codex oauth refresh", () => {
	it("a response without a refresh token is rejected (Codex always rotates)", async () => {
		const fetch = scriptedFetch([json({ access_token: "a", expires_in: 3600 })]);
		const error = await refreshError(
			{ type: "oauth", access: "x", refresh: "y", expires: 0 },
			context(new AbortController().signal, fetch),
		);
		expect(OAuthRefreshError.isInstance(error)).toBe(true);
		expect((error as OAuthRefreshError).message).toContain("refresh_token");
	});
});

describe("openai-codex paste-code login", () => {
	it("exchanges the pasted redirect URL and requires an account id in the token", async () => {
		let shown = "";
		const result = await plugin().oauth?.login?.(
			{
				onAuth: ({ url }) => {
					shown = url;
				},
				onPrompt: async () => {
					const { code } = fake.createAuthorizationCode("openai-codex", {
						email: "dana@example.com",
						accountId: "acct-dana",
					});
					const state = new URL(shown).searchParams.get("state") ?? "";
					return `http://localhost:1455/auth/callback?code=${code}&state=${state}`;
				},
			},
			context(),
		);
		const authorize = new URL(shown);
		expect(authorize.searchParams.get("redirect_uri")).toBe("http://localhost:1455/auth/callback");
		expect(authorize.searchParams.get("codex_cli_simplified_flow")).toBe("true");
		expect(authorize.searchParams.get("code_challenge_method")).toBe("S256");
		expect(result).toMatchObject({ accountId: "acct-dana", email: "dana@example.com", expires: NOW + 3_600_000 });
		const exchange = fake.requests.find((entry) => entry.endpoint === "token");
		expect(exchange?.body).toMatchObject({ grant_type: "authorization_code", client_id: "codex-test-client" });
	});
});

describe("openai-codex saved-reset credits", () => {
	it("lists credits and redeems one idempotently with the caller's request id", async () => {
		const account = fake.addAccount("openai-codex", { usage: { resetCredits: 1, primary: { usedPercent: 80 } } });
		const credential = account.credential as OAuthCredential;
		const credits = plugin().resetCredits;
		const list = await credits?.list(credential, context());
		expect(list?.availableCount).toBe(1);
		const creditId = list?.credits[0]?.id ?? "";
		expect(list?.credits[0]).toMatchObject({ id: creditId, status: "available", resetType: "codex_rate_limits" });

		const first = await credits?.redeem(credential, creditId, { ...context(), requestId: "req-1" });
		const again = await credits?.redeem(credential, creditId, { ...context(), requestId: "req-1" });
		expect(first).toEqual({ ok: true, code: "reset", status: 200 });
		expect(again).toEqual(first);
		const consumes = fake.requests.filter((entry) => entry.endpoint === "consumeReset");
		expect(consumes.map((entry) => entry.body)).toEqual([
			{ credit_id: creditId, redeem_request_id: "req-1" },
			{ credit_id: creditId, redeem_request_id: "req-1" },
		]);

		const fresh = await credits?.redeem(credential, creditId, context());
		expect(fresh).toEqual({ ok: false, code: "already_redeemed", status: 409 });
		const generated = (fake.requests.at(-1)?.body as { redeem_request_id?: string } | undefined)?.redeem_request_id;
		expect(generated).toMatch(/^[0-9a-f-]{36}$/);
		expect((await credits?.list(credential, context()))?.availableCount).toBe(0);
	});

	it("maps a bare error status to http_<status> and a list failure to null", async () => {
		const account = fake.addAccount("openai-codex", { usage: { resetCredits: 1 } });
		const credential = account.credential as OAuthCredential;
		fake.failNext("openai-codex", "consumeReset", { status: 503, body: "down" });
		expect(await plugin().resetCredits?.redeem(credential, "x", context())).toEqual({
			ok: false,
			code: "http_503",
			status: 503,
		});
		fake.failNext("openai-codex", "resetCredits", { status: 500 });
		expect(await plugin().resetCredits?.list(credential, context())).toBeNull();
	});
});
