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
import { createAntigravityPlugin } from "./antigravity-plugin";

const PROVIDER = "google-antigravity";
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

function pluginAt(target: FakeProvider, extra: Parameters<typeof createAntigravityPlugin>[0] = {}) {
	return createAntigravityPlugin({
		endpoints: { tokenUrl: `${target.baseUrl(PROVIDER)}/token`, endpoints: [target.baseUrl(PROVIDER)] },
		clientId: "test-client",
		clientSecret: "test-secret",
		...extra,
	});
}

function plugin(extra: Parameters<typeof createAntigravityPlugin>[0] = {}) {
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

describe("antigravity oauth.refresh against the fake", () => {
	it("refuses a credential without projectId with a non-definitive INVALID_INPUT error and no request", async () => {
		const account = fake.addAccount(PROVIDER);
		const { projectId: _drop, ...rest } = stored(account);
		const error = await plugin()
			.oauth!.refresh(rest as OAuthCredential, ctx())
			.catch((e: unknown) => e);
		expect(AuthpoolError.isInstance(error)).toBe(true);
		expect((error as AuthpoolError).code).toBe("INVALID_INPUT");
		expect((error as Error).message).toBe("Antigravity credentials missing projectId");
		expect(isDefinitiveRefreshFailure(error)).toBe(false);
		expect(fake.count(PROVIDER, "token")).toBe(0);
	});
});

describe("antigravity oauth.toApiKey", () => {
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

describe("createAntigravityPlugin options", () => {
	it("rejects malformed options with INVALID_OPTIONS naming the path", () => {
		const error = (() => {
			try {
				createAntigravityPlugin({ endpoints: { tokenUrl: "not a url" } });
			} catch (e) {
				return e;
			}
		})();
		expect(AuthpoolError.isInstance(error) && error.code).toBe("INVALID_OPTIONS");
		expect((error as Error).message).toContain("endpoints.tokenUrl");
		expect(() => createAntigravityPlugin({ bogus: true } as never)).toThrow(
			/Invalid google-antigravity plugin options/,
		);
	});

	it("is OAuth-only, ranks by counter, and has no header parser", async () => {
		const { googleAntigravity } = await import("./antigravity-plugin");
		const { antigravityRankingStrategy } = await import("./antigravity-ranking-strategy");
		expect(googleAntigravity.id).toBe(PROVIDER);
		expect(googleAntigravity.envApiKeys).toBeUndefined();
		expect(googleAntigravity.ranking).toBe(antigravityRankingStrategy);
		expect(googleAntigravity.usage?.parseRateLimitHeaders).toBeUndefined();
	});

	it("rejects an empty endpoint list", () => {
		expect(() => createAntigravityPlugin({ endpoints: { endpoints: [] } })).toThrow(/endpoints\.endpoints/);
	});
});

describe("antigravity usage against the fake", () => {
	it("falls back past a failing endpoint and maps the default models per counter", async () => {
		const account = fake.addAccount(PROVIDER, {
			usage: {
				primary: { usedPercent: 40, resetsAt: now + 6 * 3_600_000 },
				secondary: { usedPercent: 10, resetsAt: now + 5 * 86_400_000 },
			},
		});
		const credential = stored(account);
		const base = fake.baseUrl(PROVIDER);
		const usage = createAntigravityPlugin({
			endpoints: { endpoints: [base, `${base}/`] },
		}).usage!;
		fake.failNext(PROVIDER, "fetchAvailableModels", { status: 503 });
		const report = await usage.fetchUsage(
			{
				provider: PROVIDER,
				credential: {
					type: "oauth",
					accessToken: credential.access,
					expiresAt: credential.expires,
					projectId: credential.projectId,
				},
			},
			{ fetch: globalThis.fetch, clock, logger: silentLogger, env: {} },
		);
		expect(fake.count(PROVIDER, "fetchAvailableModels")).toBe(2);
		expect(report?.metadata).toEqual({ endpoint: base, projectId: account.projectId });
		const ids = report?.limits.map((limit) => limit.id) ?? [];
		expect(ids).toContain("google-antigravity:google:default:daily");
		expect(ids).toContain("google-antigravity:anthropic:default:daily");
		expect(ids).toContain("google-antigravity:anthropic:default:weekly");
		const google = report?.limits.find((limit) => limit.id === "google-antigravity:google:default:daily");
		expect(google?.amount.remainingFraction).toBeCloseTo(0.6, 9);
		expect(google?.window?.resetsAt).toBe(now + 6 * 3_600_000);
	});
});
