import type { UsageFetchParams } from "@authpool/core";
import { describe, expect, it } from "vitest";
import resetCreditsFixture from "./__fixtures__/reset-credits.json";
import usageFixture from "./__fixtures__/usage.json";
import limitReachedFixture from "./__fixtures__/usage-limit-reached.json";
import { normalizeCodexBaseUrl } from "./codex-base-url";
import { codexAdditionalSlug, createCodexUsageProvider, parseCodexUsagePayload } from "./codex-usage-provider";
import { codexJwt, fixedClock, json, scriptedFetch, usageContext } from "./test-support";

const NOW = Date.UTC(2026, 5, 30, 12, 0, 0);
const HOUR = 3_600_000;
const ACCESS = codexJwt({ accountId: "acct-jwt", email: "Dev@Example.com" });

const params = (overrides: Partial<UsageFetchParams["credential"]> = {}, extra: Partial<UsageFetchParams> = {}) =>
	({
		provider: "openai-codex",
		credential: { type: "oauth", accessToken: ACCESS, expiresAt: NOW + HOUR, ...overrides },
		...extra,
	}) satisfies UsageFetchParams;

const percent = (used: number) => ({
	used,
	limit: 100,
	remaining: 100 - used,
	usedFraction: used / 100,
	remainingFraction: (100 - used) / 100,
	unit: "percent",
});

describe("openai-codex usage provider", () => {
	it("parses the reference payload into exact limits, metadata and listed reset credits", async () => {
		const fetch = scriptedFetch([json(usageFixture), json(resetCreditsFixture)]);
		const report = await createCodexUsageProvider().fetchUsage(params(), usageContext(fetch, fixedClock(NOW)));
		const scope = { provider: "openai-codex", accountId: "acct-jwt", shared: true };
		expect(report).toEqual({
			provider: "openai-codex",
			fetchedAt: NOW,
			limits: [
				{
					id: "openai-codex:primary",
					label: "5 hours",
					scope: { ...scope, tier: "plus", windowId: "5h" },
					window: { id: "5h", label: "5 hours", durationMs: 5 * HOUR, resetsAt: 1_782_849_600_000 },
					amount: percent(23),
					status: "ok",
				},
				{
					id: "openai-codex:secondary",
					label: "7 days",
					scope: { ...scope, tier: "plus", windowId: "7d" },
					window: { id: "7d", label: "7 days", durationMs: 7 * 24 * HOUR, resetsAt: 1_783_143_000_000 },
					amount: percent(41),
					status: "ok",
				},
				{
					id: "openai-codex:spark:primary",
					label: "5 hours (Spark)",
					scope: { ...scope, tier: "spark", modelId: "GPT-5.3-Codex-Spark", windowId: "5h" },
					window: { id: "5h", label: "5 hours", durationMs: 5 * HOUR, resetsAt: 1_782_858_600_000 },
					amount: percent(0),
					status: "ok",
				},
			],
			resetCredits: {
				availableCount: 1,
				credits: [{ grantedAt: "2026-06-11T18:00:00Z", expiresAt: "2026-07-11T18:00:00Z", status: "available" }],
			},
			metadata: {
				planType: "plus",
				allowed: true,
				limitReached: false,
				email: "dev@example.com",
				accountId: "acct-jwt",
			},
			raw: usageFixture,
		});
		expect(fetch.calls.map((call) => call.url)).toEqual([
			"https://chatgpt.com/backend-api/wham/usage",
			"https://chatgpt.com/backend-api/wham/rate-limit-reset-credits",
		]);
		expect(fetch.calls[0]?.headers).toMatchObject({
			authorization: `Bearer ${ACCESS}`,
			"user-agent": "OpenCode-Status-Plugin/1.0",
			"chatgpt-account-id": "acct-jwt",
		});
	});

	it("exhausts both windows of a block that reached its limit and applies the window/slug rules", () => {
		const parsed = parseCodexUsagePayload(limitReachedFixture, { now: NOW, accountId: "acct" });
		expect(
			parsed?.limits.map((limit) => [limit.id, limit.label, limit.window, limit.status, limit.amount.used]),
		).toEqual([
			[
				"openai-codex:primary",
				"1 hour",
				{ id: "1h", label: "1 hour", durationMs: HOUR, resetsAt: NOW + 600_000 },
				"exhausted",
				100,
			],
			[
				"openai-codex:secondary",
				"Secondary window",
				{ id: "secondary", label: "Secondary window", resetsAt: 1_783_143_000_123 },
				"exhausted",
				100,
			],
			[
				"openai-codex:code-review:primary",
				"2 days (Codex Review)",
				{ id: "2d", label: "2 days", durationMs: 48 * HOUR },
				"unknown",
				undefined,
			],
			[
				"openai-codex:codex-extra-thing:secondary",
				"2 hours (Codex Extra Thing)",
				{ id: "2h", label: "2 hours", durationMs: 5_400_000 },
				"warning",
				95,
			],
		]);
		expect(parsed?.limits[2]?.amount).toEqual({ unit: "percent" });
		expect(parsed?.limits[2]?.scope).toEqual({
			provider: "openai-codex",
			accountId: "acct",
			tier: "code-review",
			modelId: "Codex Review",
			windowId: "2d",
			shared: true,
		});
		expect(parsed?.resetCredits).toEqual({ availableCount: 0 });
		expect(parsed?.planType).toBe("pro");
		expect(parsed?.limitReached).toBe(true);
	});

	it("does not list reset credits when none are available", async () => {
		const fetch = scriptedFetch([json(limitReachedFixture)]);
		const report = await createCodexUsageProvider().fetchUsage(params(), usageContext(fetch, fixedClock(NOW)));
		expect(fetch.calls).toHaveLength(1);
		expect(report?.resetCredits).toEqual({ availableCount: 0 });
	});

	it("keeps the usage count when the reset-credit list fails", async () => {
		const fetch = scriptedFetch([json(usageFixture), json({ error: "nope" }, 500)]);
		const report = await createCodexUsageProvider().fetchUsage(params(), usageContext(fetch, fixedClock(NOW)));
		expect(report?.resetCredits).toEqual({ availableCount: 1 });
	});

	it("returns null without a request for an expired token", async () => {
		const fetch = scriptedFetch([json(usageFixture)]);
		const report = await createCodexUsageProvider().fetchUsage(
			params({ expiresAt: NOW }),
			usageContext(fetch, fixedClock(NOW)),
		);
		expect(report).toBeNull();
		expect(fetch.calls).toHaveLength(0);
	});

	it("does not retry: a non-2xx or a network error is null after one call", async () => {
		for (const step of [json({ detail: "x" }, 503), new TypeError("fetch failed"), new Response("not json")]) {
			const fetch = scriptedFetch([step, json(usageFixture)]);
			expect(await createCodexUsageProvider().fetchUsage(params(), usageContext(fetch, fixedClock(NOW)))).toBeNull();
			expect(fetch.calls).toHaveLength(1);
		}
	});

	it("prefers the credential's account id and email over the token claims", async () => {
		const fetch = scriptedFetch([json(limitReachedFixture)]);
		const report = await createCodexUsageProvider().fetchUsage(
			params({ accountId: "acct-explicit", email: " Boss@Example.com " }),
			usageContext(fetch, fixedClock(NOW)),
		);
		expect(fetch.calls[0]?.headers["chatgpt-account-id"]).toBe("acct-explicit");
		expect(report?.metadata).toMatchObject({ accountId: "acct-explicit", email: "boss@example.com" });
	});

	it("honours only ChatGPT hosts in a caller's base URL and otherwise uses its configured base as is", async () => {
		const provider = createCodexUsageProvider({ usageBaseUrl: "http://127.0.0.1:9/openai-codex/backend-api" });
		const run = async (baseUrl?: string) => {
			const fetch = scriptedFetch([json(limitReachedFixture)]);
			await provider.fetchUsage(params({}, baseUrl ? { baseUrl } : {}), usageContext(fetch, fixedClock(NOW)));
			return fetch.calls[0]?.url;
		};
		expect(await run()).toBe("http://127.0.0.1:9/openai-codex/backend-api/wham/usage");
		expect(await run("https://chat.openai.com/some/path")).toBe("https://chat.openai.com/backend-api/wham/usage");
		expect(await run("https://proxy.example.com/codex")).toBe("http://127.0.0.1:9/openai-codex/backend-api/wham/usage");
	});

	it("only supports openai-codex OAuth credentials", () => {
		const provider = createCodexUsageProvider();
		expect(provider.supports?.(params())).toBe(true);
		expect(provider.supports?.({ provider: "openai-codex", credential: { type: "api_key", apiKey: "k" } })).toBe(false);
		expect(provider.supports?.({ ...params(), provider: "anthropic" })).toBe(false);
	});

	it("returns null promptly when the caller aborts", async () => {
		const controller = new AbortController();
		controller.abort();
		const fetch = scriptedFetch([json(usageFixture)]);
		const report = await createCodexUsageProvider().fetchUsage(
			params({}, { signal: controller.signal }),
			usageContext(fetch, fixedClock(NOW)),
		);
		expect(report).toBeNull();
	});

	it("returns null for a body without rate limits", () => {
		expect(parseCodexUsagePayload({ plan_type: "plus" }, { now: NOW })).toBeNull();
		expect(parseCodexUsagePayload([], { now: NOW })).toBeNull();
	});
});

describe("codex helpers", () => {
	it.each([
		["GPT-5.3-Codex-Spark", "codex_bengalfox", "spark"],
		["Something", "SPARK_meter", "spark"],
		["Codex Review", "codex_code_review", "code-review"],
		["Fancy Name!", undefined, "fancy-name"],
		[undefined, undefined, "extra"],
		[undefined, "codex-", "extra"],
	])("slug of (%s, %s) is %s", (name, feature, slug) => {
		expect(codexAdditionalSlug(name, feature)).toBe(slug);
	});

	it.each([
		[undefined, "https://chatgpt.com/backend-api"],
		["https://chatgpt.com", "https://chatgpt.com/backend-api"],
		["https://chatgpt.com/backend-api/codex/responses", "https://chatgpt.com/backend-api"],
		["https://chat.openai.com/", "https://chat.openai.com/backend-api"],
		["https://api.openai.com/v1", "https://chatgpt.com/backend-api"],
		["garbage", "https://chatgpt.com/backend-api"],
	])("normalizeCodexBaseUrl(%s) = %s", (input, output) => {
		expect(normalizeCodexBaseUrl(input)).toBe(output);
	});
});
