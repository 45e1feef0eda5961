import { AuthpoolError, type OAuthCredential, type PluginContext, silentLogger } from "@authpool/core";
import { type FakeProvider, startFakeProvider } from "@authpool/fake-provider";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { COPILOT_TOKEN_LIFETIME_MS } from "./copilot-oauth";
import { createGithubCopilotPlugin, githubCopilot } from "./copilot-plugin";

const PROVIDER = "github-copilot";
const now = Date.parse("2026-06-30T12:00:00Z");
const clock = { now: () => now };
let fake: FakeProvider;

beforeAll(async () => {
	fake = await startFakeProvider({ now: () => now });
});
afterAll(async () => {
	await fake.close();
});
beforeEach(() => {
	fake.reset();
});

function ctx(signal: AbortSignal = new AbortController().signal): PluginContext {
	return { fetch: globalThis.fetch, clock, logger: silentLogger, env: {}, signal };
}

describe("github-copilot oauth.refresh", () => {
	it("makes no network call and re-stamps the GitHub token for ten years, keeping enterprise fields", async () => {
		let calls = 0;
		const counting: PluginContext = {
			...ctx(),
			fetch: async () => {
				calls++;
				throw new Error("no network expected");
			},
		};
		const credential: OAuthCredential = {
			type: "oauth",
			access: "stale",
			refresh: "gho_github_token",
			expires: now - 1,
			enterpriseUrl: "ghe.example.com",
			apiEndpoint: "https://copilot-api.ghe.example.com",
			accountId: "octocat",
		};
		const result = await githubCopilot.oauth!.refresh(credential, counting);
		expect(calls).toBe(0);
		expect(result).toEqual({
			access: "gho_github_token",
			refresh: "gho_github_token",
			expires: now + COPILOT_TOKEN_LIFETIME_MS,
			enterpriseUrl: "ghe.example.com",
			apiEndpoint: "https://copilot-api.ghe.example.com",
		});
		expect(COPILOT_TOKEN_LIFETIME_MS).toBe(10 * 365 * 86_400_000);
		expect(githubCopilot.oauth!.rotatesRefreshToken).toBe(false);
	});
});

describe("github-copilot oauth.toApiKey", () => {
	const credential: OAuthCredential = {
		type: "oauth",
		access: "gho_token",
		refresh: "gho_token",
		expires: 2_000_000_000_000,
		enterpriseUrl: "ghe.example.com",
		apiEndpoint: "https://api.enterprise.githubcopilot.com",
		accountId: "octocat",
	};

	it("returns the JSON blob clients parse, without refreshToken by default", () => {
		const blob = JSON.parse(githubCopilot.oauth!.toApiKey!(credential));
		expect(blob).toEqual({
			apiEndpoint: "https://api.enterprise.githubcopilot.com",
			token: "gho_token",
			enterpriseUrl: "ghe.example.com",
			expiresAt: 2_000_000_000_000,
			accountId: "octocat",
		});
	});

	it("adds refreshToken only with includeRefreshTokenInApiKey", () => {
		const plugin = createGithubCopilotPlugin({ includeRefreshTokenInApiKey: true });
		expect(JSON.parse(plugin.oauth!.toApiKey!(credential)).refreshToken).toBe("gho_token");
	});
});

describe("github-copilot device login against the fake", () => {
	function plugin(onPoll: () => void) {
		return createGithubCopilotPlugin({
			endpoints: { githubBaseUrl: fake.baseUrl(PROVIDER), githubApiBaseUrl: fake.baseUrl(PROVIDER) },
			clientId: "test-client",
			pollWait: async () => onPoll(),
		});
	}

	it("shows the code, polls through authorization_pending, and returns a GitHub-token credential with identity", async () => {
		let polls = 0;
		let approved: ReturnType<FakeProvider["approveDeviceCode"]> | undefined;
		const shown: Array<{ url: string; instructions?: string }> = [];
		const login = plugin(() => {
			polls++;
			// Approve only after one pending answer, to exercise the polling loop.
			if (polls === 2) {
				const pending = fake.pendingDeviceCodes(PROVIDER)[0]!;
				approved = fake.approveDeviceCode(pending.userCode, { accountId: "octocat", email: "octo@example.com" });
			}
		}).oauth!.login!;

		const result = await login({ onAuth: (info) => shown.push(info), onPrompt: async () => "" }, ctx());
		expect(shown).toHaveLength(1);
		expect(shown[0]?.instructions).toMatch(/^Enter code: \S+/);
		const deviceRequest = fake.requests.find((r) => r.endpoint === "deviceCode");
		expect(deviceRequest?.body).toMatchObject({ client_id: "test-client", scope: "read:user" });
		expect(fake.count(PROVIDER, "token")).toBe(2);
		expect(typeof result).toBe("object");
		const credential = result as Omit<OAuthCredential, "type">;
		expect(credential.access).toBe(approved?.accessToken);
		expect(credential.refresh).toBe(credential.access);
		expect(credential.expires).toBe(now + COPILOT_TOKEN_LIFETIME_MS);
		expect(credential.accountId).toBe("octocat");
		expect(credential).not.toHaveProperty("enterpriseUrl");
	});

	it("fails with a typed error when the user denies access", async () => {
		const login = plugin(() => {
			const pending = fake.pendingDeviceCodes(PROVIDER)[0];
			if (pending) fake.denyDeviceCode(pending.userCode);
		}).oauth!.login!;
		const error = await login({ onAuth: () => {} }, ctx()).catch((e: unknown) => e);
		expect(AuthpoolError.isInstance(error)).toBe(true);
		expect((error as Error).message).toContain("access_denied");
	});
});

describe("createGithubCopilotPlugin", () => {
	it("reads COPILOT_GITHUB_TOKEN from the environment and has no ranking strategy", () => {
		expect(githubCopilot.id).toBe(PROVIDER);
		expect(githubCopilot.envApiKeys).toEqual(["COPILOT_GITHUB_TOKEN"]);
		expect(githubCopilot.ranking).toBeUndefined();
	});

	it("rejects malformed options with INVALID_OPTIONS", () => {
		expect(() => createGithubCopilotPlugin({ endpoints: { githubApiBaseUrl: "nope" } })).toThrow(
			/endpoints\.githubApiBaseUrl/,
		);
		expect(() => createGithubCopilotPlugin({ pollWait: 5 as never })).toThrow(/pollWait/);
	});

	it("reads premium usage from the fake's copilot_internal/user", async () => {
		const account = fake.addAccount(PROVIDER, { accountId: "octocat", usage: { primary: { usedPercent: 50 } } });
		const plugin = createGithubCopilotPlugin({ endpoints: { githubApiBaseUrl: fake.baseUrl(PROVIDER) } });
		const credential = account.credential as OAuthCredential;
		const report = await plugin.usage!.fetchUsage(
			{
				provider: PROVIDER,
				credential: { type: "oauth", accessToken: credential.access, refreshToken: credential.refresh },
			},
			{ fetch: globalThis.fetch, clock, logger: silentLogger, env: {} },
		);
		expect(report?.metadata?.accountId).toBe("octocat");
		expect(report?.limits[0]).toMatchObject({
			id: "copilot:premium",
			amount: { used: 150, limit: 300, remaining: 150, usedFraction: 0.5, unit: "requests" },
			status: "ok",
		});
	});
});
