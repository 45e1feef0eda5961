import { afterEach, describe, expect, it } from "vitest";
import { startFakeProvider } from "./fake-provider";
import { createManualClock as testClock } from "./manual-clock";
import type { FakeProvider, FakeProviderOptions } from "./types";

let fake: FakeProvider | undefined;
afterEach(async () => {
	await fake?.close();
	fake = undefined;
});

async function start(options?: FakeProviderOptions) {
	fake = await startFakeProvider(options);
	return fake;
}

const TOKEN_PATHS: Record<string, string> = {
	anthropic: "/v1/oauth/token",
	"openai-codex": "/oauth/token",
	"google-gemini-cli": "/token",
	"google-antigravity": "/token",
	"kimi-code": "/api/oauth/token",
	example: "/oauth/token",
};

async function refresh(f: FakeProvider, provider: string, refreshToken: string, form = false) {
	const body = { grant_type: "refresh_token", refresh_token: refreshToken, client_id: "cid" };
	const response = await fetch(`${f.baseUrl(provider)}${TOKEN_PATHS[provider]}`, {
		method: "POST",
		headers: { "content-type": form ? "application/x-www-form-urlencoded" : "application/json" },
		body: form ? new URLSearchParams(body).toString() : JSON.stringify(body),
	});
	return { status: response.status, body: (await response.json()) as Record<string, unknown> };
}

function jwtPayload(token: string): Record<string, unknown> {
	const [, payload] = token.split(".");
	return JSON.parse(Buffer.from(payload ?? "", "base64url").toString("utf8")) as Record<string, unknown>;
}

describe("token endpoint: refresh rotation", () => {
	for (const provider of Object.keys(TOKEN_PATHS)) {
		it(`${provider}: rotates, and reusing the old refresh token is invalid_grant`, async () => {
			const clock = testClock();
			const f = await start({ now: clock.now, accessTokenTtlMs: 60_000 });
			const account = f.addAccount(provider);
			const first = { access: account.accessToken, refresh: account.refreshToken };
			clock.advance(10_000);
			const ok = await refresh(f, provider, first.refresh, provider !== "anthropic");
			expect(ok.status).toBe(200);
			expect(ok.body.access_token).toBe(account.accessToken);
			expect(ok.body.access_token).not.toBe(first.access);
			expect(ok.body.refresh_token).toBe(account.refreshToken);
			expect(ok.body.refresh_token).not.toBe(first.refresh);
			expect(ok.body.expires_in).toBe(60);
			expect(account.expiresAt).toBe(clock.now() + 60_000);
			expect(account.credential).toMatchObject({
				type: "oauth",
				access: ok.body.access_token,
				refresh: ok.body.refresh_token,
				expires: clock.now() + 60_000,
			});
			expect(f.refreshCount(account.id)).toBe(1);

			const reuse = await refresh(f, provider, first.refresh);
			expect(reuse.status).toBe(400);
			expect(reuse.body.error).toBe("invalid_grant");
			expect(JSON.stringify(reuse.body)).not.toContain(first.refresh);
			expect(f.refreshCount(account.id)).toBe(1);

			// The new one works once more.
			expect((await refresh(f, provider, String(ok.body.refresh_token))).status).toBe(200);
			expect(f.refreshCount()).toBe(2);
		});
	}

	it("a revoked account's refresh token is invalid_grant and its access token is refused", async () => {
		const f = await start();
		const account = f.addAccount("anthropic");
		f.revoke(account.id);
		const outcome = await refresh(f, "anthropic", account.refreshToken);
		expect(outcome).toMatchObject({ status: 400, body: { error: "invalid_grant" } });
		const usage = await fetch(`${f.baseUrl("anthropic")}/api/oauth/usage`, {
			headers: { authorization: `Bearer ${account.accessToken}` },
		});
		expect(usage.status).toBe(401);
	});

	it("unknown refresh tokens, another provider's tokens and bad grants are refused", async () => {
		const f = await start();
		const codex = f.addAccount("openai-codex");
		expect((await refresh(f, "anthropic", "nope")).body.error).toBe("invalid_grant");
		expect((await refresh(f, "anthropic", codex.refreshToken)).body.error).toBe("invalid_grant");
		const missing = await fetch(`${f.baseUrl("anthropic")}/v1/oauth/token`, {
			method: "POST",
			headers: { "content-type": "application/json" },
			body: JSON.stringify({ grant_type: "refresh_token" }),
		});
		expect(missing.status).toBe(400);
		expect(await missing.json()).toMatchObject({ error: "invalid_request" });
		const weird = await fetch(`${f.baseUrl("anthropic")}/v1/oauth/token`, {
			method: "POST",
			headers: { "content-type": "application/json" },
			body: JSON.stringify({ grant_type: "password" }),
		});
		expect(await weird.json()).toMatchObject({ error: "unsupported_grant_type" });
	});

	it("without rotation the same refresh token keeps working; Google omits it", async () => {
		const f = await start({ rotateRefreshTokens: false });
		const anthropic = f.addAccount("anthropic");
		const gemini = f.addAccount("google-gemini-cli");
		const a1 = await refresh(f, "anthropic", anthropic.refreshToken);
		const a2 = await refresh(f, "anthropic", anthropic.refreshToken);
		expect(a1.body.refresh_token).toBe(anthropic.refreshToken);
		expect(a2.status).toBe(200);
		const g = await refresh(f, "google-gemini-cli", gemini.refreshToken, true);
		expect(g.status).toBe(200);
		expect(g.body).not.toHaveProperty("refresh_token");
		expect(g.body.access_token).toMatch(/^ya29\./);
	});

	it("per-account rotation override", async () => {
		const f = await start();
		const account = f.addAccount("kimi-code", { rotateRefreshTokens: false });
		await refresh(f, "kimi-code", account.refreshToken, true);
		expect((await refresh(f, "kimi-code", account.refreshToken, true)).status).toBe(200);
	});

	it("old access tokens stay valid until they expire", async () => {
		const clock = testClock();
		const f = await start({ now: clock.now, accessTokenTtlMs: 60_000 });
		const account = f.addAccount("openai-codex");
		const old = account.accessToken;
		clock.advance(30_000);
		await refresh(f, "openai-codex", account.refreshToken, true);
		const usage = (token: string) =>
			fetch(`${f.baseUrl("openai-codex")}/backend-api/wham/usage`, { headers: { authorization: `Bearer ${token}` } });
		expect((await usage(old)).status).toBe(200);
		clock.advance(30_000);
		expect((await usage(old)).status).toBe(401);
		expect((await usage(account.accessToken)).status).toBe(200);
	});
});

describe("token endpoint: provider response fields", () => {
	it("anthropic returns account uuid and email_address (or not, to force the bootstrap fallback)", async () => {
		const f = await start();
		const with_ = f.addAccount("anthropic", { email: "a@example.com", accountId: "acc-uuid" });
		const without = f.addAccount("anthropic", { identityInTokenResponse: false });
		const one = await refresh(f, "anthropic", with_.refreshToken);
		expect(one.body.account).toEqual({ uuid: "acc-uuid", email_address: "a@example.com" });
		expect(one.body.token_type).toBe("Bearer");
		const two = await refresh(f, "anthropic", without.refreshToken);
		expect(two.body).not.toHaveProperty("account");
		const bootstrap = await fetch(`${f.baseUrl("anthropic")}/api/claude_cli/bootstrap?entrypoint=cli`, {
			headers: { authorization: `Bearer ${without.accessToken}` },
		});
		expect(await bootstrap.json()).toMatchObject({
			oauth_account: { account_uuid: without.accountId, account_email: without.email },
		});
	});

	it("codex access tokens are JWTs with the account id, email and exp claims", async () => {
		const clock = testClock();
		const f = await start({ now: clock.now });
		const account = f.addAccount("openai-codex", { accountId: "acct-123", email: "dev@example.com" });
		const initial = jwtPayload(account.accessToken);
		expect(initial["https://api.openai.com/auth"]).toEqual({ chatgpt_account_id: "acct-123" });
		expect(initial["https://api.openai.com/profile"]).toEqual({ email: "dev@example.com" });
		expect(initial.exp).toBe(Math.floor((clock.now() + 3_600_000) / 1000));
		clock.advance(1000);
		const outcome = await refresh(f, "openai-codex", account.refreshToken, true);
		const claims = jwtPayload(String(outcome.body.access_token));
		expect(claims.exp).toBe(Math.floor((clock.now() + 3_600_000) / 1000));
		expect(String(outcome.body.access_token).split(".")).toHaveLength(3);
		expect(outcome.body.refresh_token).toMatch(/^rt_fake_/);
	});

	it("credential objects are ready to store for each provider type", async () => {
		const clock = testClock();
		const f = await start({ now: clock.now });
		const gemini = f.addAccount("google-gemini-cli", { email: "g@example.com" });
		expect(gemini.credential).toEqual({
			type: "oauth",
			access: gemini.accessToken,
			refresh: gemini.refreshToken,
			expires: clock.now() + 3_600_000,
			email: "g@example.com",
			projectId: gemini.projectId,
		});
		expect(gemini.projectId).toMatch(/^fake-project-/);
		const zai = f.addAccount("zai", { apiKey: "zai-key" });
		expect(zai.credential).toEqual({ type: "api_key", key: "zai-key" });
		expect(f.addAccount("ollama").credential.type).toBe("api_key");
		expect(f.addAccount("opencode-go").credential.type).toBe("api_key");
		const copilot = f.addAccount("github-copilot");
		expect(copilot.credential).toMatchObject({ type: "oauth", access: copilot.refreshToken });
		expect(copilot.accessToken).toMatch(/^gho_/);
		expect(f.account(copilot.refreshToken)?.id).toBe(copilot.id);
		expect(f.account(zai.id)?.apiKey).toBe("zai-key");
		expect(f.accounts("zai")).toHaveLength(1);
		expect(() => f.addAccount("zai", { id: zai.id })).toThrow(/already exists/);
	});

	it("an account can start with an expired access token", async () => {
		const clock = testClock();
		const f = await start({ now: clock.now });
		const account = f.addAccount("anthropic", { expiresAt: clock.now() - 1 });
		expect(account.credential).toMatchObject({ expires: clock.now() - 1 });
		const usage = await fetch(`${f.baseUrl("anthropic")}/api/oauth/usage`, {
			headers: { authorization: `Bearer ${account.accessToken}` },
		});
		expect(usage.status).toBe(401);
		const fresh = f.addAccount("anthropic");
		f.expireAccessToken(fresh.id);
		expect(fresh.expiresAt).toBeLessThan(clock.now());
	});
});

describe("login flows", () => {
	it("authorization code (PKCE paste-code) is exchanged once", async () => {
		const f = await start();
		const { code, account } = f.createAuthorizationCode("anthropic", { email: "new@example.com" });
		const exchange = () =>
			fetch(`${f.baseUrl("anthropic")}/v1/oauth/token`, {
				method: "POST",
				headers: { "content-type": "application/json" },
				body: JSON.stringify({ grant_type: "authorization_code", code, code_verifier: "v", state: "s" }),
			});
		const first = await exchange();
		expect(first.status).toBe(200);
		expect(await first.json()).toMatchObject({
			access_token: account.accessToken,
			refresh_token: account.refreshToken,
			account: { email_address: "new@example.com" },
		});
		expect(await (await exchange()).json()).toMatchObject({ error: "invalid_grant" });
	});

	it("copilot device flow: pending (200) until approved, then the GitHub token", async () => {
		const f = await start({ deviceIntervalSeconds: 1 });
		const start1 = await fetch(`${f.baseUrl("github-copilot")}/login/device/code`, {
			method: "POST",
			headers: { "content-type": "application/json", accept: "application/json" },
			body: JSON.stringify({ client_id: "cid", scope: "read:user" }),
		});
		const device = (await start1.json()) as Record<string, unknown>;
		expect(device).toMatchObject({ interval: 1, expires_in: 900 });
		expect(f.pendingDeviceCodes("github-copilot").map((d) => d.userCode)).toEqual([device.user_code]);
		const poll = async () => {
			const r = await fetch(`${f.baseUrl("github-copilot")}/login/oauth/access_token`, {
				method: "POST",
				headers: { "content-type": "application/json" },
				body: JSON.stringify({
					client_id: "cid",
					device_code: device.device_code,
					grant_type: "urn:ietf:params:oauth:grant-type:device_code",
				}),
			});
			return { status: r.status, body: (await r.json()) as Record<string, unknown> };
		};
		expect(await poll()).toEqual({ status: 200, body: expect.objectContaining({ error: "authorization_pending" }) });
		const account = f.approveDeviceCode(String(device.user_code), { accountId: "mona" });
		const done = await poll();
		expect(done.body).toMatchObject({ access_token: account.accessToken, token_type: "bearer" });
		expect(account.accountId).toBe("mona");
		expect((await poll()).body.error).toBe("expired_token");
	});

	it("kimi device flow: 400 authorization_pending, access_denied after deny", async () => {
		const f = await start();
		const started = await fetch(`${f.baseUrl("kimi-code")}/api/oauth/device_authorization`, {
			method: "POST",
			headers: { "content-type": "application/x-www-form-urlencoded" },
			body: "client_id=cid",
		});
		const device = (await started.json()) as Record<string, string>;
		expect(device.verification_uri_complete).toContain(encodeURIComponent(device.user_code ?? ""));
		const poll = () =>
			fetch(`${f.baseUrl("kimi-code")}/api/oauth/token`, {
				method: "POST",
				headers: { "content-type": "application/x-www-form-urlencoded" },
				body: new URLSearchParams({
					grant_type: "urn:ietf:params:oauth:grant-type:device_code",
					device_code: device.device_code ?? "",
					client_id: "cid",
				}).toString(),
			});
		const pending = await poll();
		expect(pending.status).toBe(400);
		expect(await pending.json()).toMatchObject({ error: "authorization_pending" });
		f.denyDeviceCode(device.user_code ?? "");
		expect(await (await poll()).json()).toMatchObject({ error: "access_denied" });
	});

	it("kimi device flow approval issues a refreshable token pair", async () => {
		const f = await start();
		const started = await fetch(`${f.baseUrl("kimi-code")}/api/oauth/device_authorization`, {
			method: "POST",
			body: "client_id=cid",
			headers: { "content-type": "application/x-www-form-urlencoded" },
		});
		const device = (await started.json()) as Record<string, string>;
		const account = f.approveDeviceCode(device.user_code ?? "");
		const r = await fetch(`${f.baseUrl("kimi-code")}/api/oauth/token`, {
			method: "POST",
			headers: { "content-type": "application/x-www-form-urlencoded" },
			body: `grant_type=${encodeURIComponent("urn:ietf:params:oauth:grant-type:device_code")}&device_code=${device.device_code}`,
		});
		const body = (await r.json()) as Record<string, unknown>;
		expect(body).toMatchObject({ access_token: account.accessToken, refresh_token: account.refreshToken });
		expect((await refresh(f, "kimi-code", String(body.refresh_token), true)).status).toBe(200);
	});
});
