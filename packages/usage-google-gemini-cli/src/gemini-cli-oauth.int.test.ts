import {
	AuthpoolError,
	isDefinitiveRefreshFailure,
	type OAuthCredential,
	OAuthRefreshError,
	type PluginContext,
	silentLogger,
} from "@authpool/core";
import { type FakeProvider, startFakeProvider } from "@authpool/fake-provider";
import { describeOAuthRefresh } from "@authpool/fake-provider/plugin-kit";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { createGeminiCliPlugin } from "./gemini-cli-plugin";

const PROVIDER = "google-gemini-cli";
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

function pluginAt(target: FakeProvider, extra: Parameters<typeof createGeminiCliPlugin>[0] = {}) {
	return createGeminiCliPlugin({
		endpoints: { tokenUrl: `${target.baseUrl(PROVIDER)}/token`, codeAssistBaseUrl: target.baseUrl(PROVIDER) },
		clientId: "test-client",
		clientSecret: "test-secret",
		...extra,
	});
}

function plugin(extra: Parameters<typeof createGeminiCliPlugin>[0] = {}) {
	return pluginAt(fake, extra);
}

describeOAuthRefresh({
	provider: PROVIDER,
	makePlugin: (target) => pluginAt(target),
	core: { OAuthRefreshError, isDefinitiveRefreshFailure },
	clock,
	expirySkewMs: 5 * 60_000,
	verifySuccess: ({ fake: target, before, result, request }) => {
		expect(request.headers["content-type"]).toContain("application/x-www-form-urlencoded");
		expect(request.body).toEqual({
			client_id: "test-client",
			client_secret: "test-secret",
			refresh_token: before.refresh,
			grant_type: "refresh_token",
		});
		expect(result.expires).toBe(now + 3_600_000 - 5 * 60_000);
		expect(result.projectId).toBe(before.projectId);
		expect(pluginAt(target).oauth!.rotatesRefreshToken).toBe(false);
	},
});

function stored(account: { credential: unknown }): OAuthCredential {
	return account.credential as OAuthCredential;
}

describe("gemini-cli oauth.refresh against the fake", () => {
	it("refuses a credential without projectId with a non-definitive INVALID_INPUT error and no request", async () => {
		const account = fake.addAccount(PROVIDER);
		const { projectId: _drop, ...rest } = stored(account);
		const error = await plugin()
			.oauth!.refresh(rest as OAuthCredential, ctx())
			.catch((e: unknown) => e);
		expect(AuthpoolError.isInstance(error)).toBe(true);
		expect((error as AuthpoolError).code).toBe("INVALID_INPUT");
		expect((error as Error).message).toBe("Google Cloud credentials missing projectId");
		expect(isDefinitiveRefreshFailure(error)).toBe(false);
		expect(fake.count(PROVIDER, "token")).toBe(0);
	});
});

describe("gemini-cli oauth.toApiKey", () => {
	const credential: OAuthCredential = {
		type: "oauth",
		access: "ya29.access",
		refresh: "1//refresh",
		expires: 1_782_000_000_000,
		projectId: "proud-lamp-a1b2c",
		email: "dev@example.com",
	};

	it("returns the JSON blob without the refresh token by default", () => {
		const blob = JSON.parse(plugin().oauth!.toApiKey!(credential));
		expect(blob).toEqual({
			token: "ya29.access",
			projectId: "proud-lamp-a1b2c",
			expiresAt: 1_782_000_000_000,
			email: "dev@example.com",
		});
		expect(Object.keys(blob)).toEqual(["token", "projectId", "expiresAt", "email"]);
	});

	it("includes the refresh token only when includeRefreshTokenInApiKey is set", () => {
		const blob = JSON.parse(plugin({ includeRefreshTokenInApiKey: true }).oauth!.toApiKey!(credential));
		expect(blob.refreshToken).toBe("1//refresh");
	});
});

describe("createGeminiCliPlugin options", () => {
	it("rejects malformed options with INVALID_OPTIONS naming the path", () => {
		const error = (() => {
			try {
				createGeminiCliPlugin({ endpoints: { tokenUrl: "not a url" } });
			} catch (e) {
				return e;
			}
		})();
		expect(AuthpoolError.isInstance(error) && error.code).toBe("INVALID_OPTIONS");
		expect((error as Error).message).toContain("endpoints.tokenUrl");
		expect(() => createGeminiCliPlugin({ bogus: true } as never)).toThrow(/Invalid google-gemini-cli plugin options/);
	});

	it("is OAuth-only and has no ranking strategy", async () => {
		const { googleGeminiCli } = await import("./gemini-cli-plugin");
		expect(googleGeminiCli.id).toBe(PROVIDER);
		expect(googleGeminiCli.envApiKeys).toBeUndefined();
		expect(googleGeminiCli.ranking).toBeUndefined();
		expect(googleGeminiCli.usage?.parseRateLimitHeaders).toBeUndefined();
	});
});

describe("gemini-cli usage against the fake", () => {
	it("discovers the project and maps the default buckets", async () => {
		const account = fake.addAccount(PROVIDER, {
			plan: "standard-tier",
			usage: { buckets: { "gemini-2.5-pro": { usedPercent: 25, resetsAt: now + 3_600_000 } } },
		});
		const credential = stored(account);
		const report = await plugin().usage!.fetchUsage(
			{
				provider: PROVIDER,
				credential: { type: "oauth", accessToken: credential.access, expiresAt: credential.expires },
			},
			{ fetch: globalThis.fetch, clock, logger: silentLogger, env: {} },
		);
		expect(report?.metadata?.currentTierId).toBe("standard-tier");
		expect(report?.limits).toEqual([
			expect.objectContaining({
				id: `gemini-2.5-pro:reset-${now + 3_600_000}`,
				label: "Gemini gemini-2.5-pro",
				scope: expect.objectContaining({ projectId: account.projectId, tier: "Pro", modelId: "gemini-2.5-pro" }),
				amount: expect.objectContaining({ used: 25, remaining: 75, usedFraction: 0.25, remainingFraction: 0.75 }),
			}),
		]);
	});
});
