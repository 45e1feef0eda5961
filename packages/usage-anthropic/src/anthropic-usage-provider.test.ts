import type { UsageFetchParams, UsageLimit } from "@authpool/core";
import { describe, expect, it } from "vitest";
import profileFixture from "./__fixtures__/profile.json";
import usageFixture from "./__fixtures__/usage.json";
import usageWithIdentityFixture from "./__fixtures__/usage-with-identity.json";
import {
	ANTHROPIC_USAGE_BETA,
	createAnthropicUsageProvider,
	normalizeAnthropicUsageBaseUrl,
} from "./anthropic-usage-provider";
import { fixedClock, json, scriptedFetch, usageContext } from "./test-support";

const NOW = Date.UTC(2026, 5, 30, 12, 0, 0);
const HOUR = 3_600_000;
const RESET_5H = Date.UTC(2026, 5, 30, 15, 0, 0);
const RESET_7D = Date.UTC(2026, 6, 3, 9, 0, 0);

const params = (overrides: Partial<UsageFetchParams["credential"]> = {}, extra: Partial<UsageFetchParams> = {}) =>
	({
		provider: "anthropic",
		credential: { type: "oauth", accessToken: "sk-ant-oat01-test-access", ...overrides },
		...extra,
	}) satisfies UsageFetchParams;

const expected5h = (used: number, status: UsageLimit["status"], resetsAt?: number): UsageLimit => ({
	id: "anthropic:5h",
	label: "Claude 5 Hour",
	scope: { provider: "anthropic", windowId: "5h", shared: true },
	window: { id: "5h", label: "5 Hour", durationMs: 5 * HOUR, ...(resetsAt !== undefined ? { resetsAt } : {}) },
	amount: {
		used,
		limit: 100,
		remaining: 100 - used,
		usedFraction: used / 100,
		remainingFraction: (100 - used) / 100,
		unit: "percent",
	},
	status,
});

describe("anthropic usage provider", () => {
	it("parses the reference payload into exact limits and fills identity from /profile", async () => {
		const fetch = scriptedFetch([
			json(usageFixture, 200, { "anthropic-organization-id": "4f1c-org" }),
			json(profileFixture),
		]);
		const provider = createAnthropicUsageProvider();
		const report = await provider.fetchUsage(params(), usageContext(fetch, fixedClock(NOW)));

		expect(report).toEqual({
			provider: "anthropic",
			fetchedAt: NOW,
			limits: [
				expected5h(37, "ok", RESET_5H),
				{
					id: "anthropic:7d",
					label: "Claude 7 Day",
					scope: { provider: "anthropic", windowId: "7d", shared: true },
					window: { id: "7d", label: "7 Day", durationMs: 7 * 24 * HOUR, resetsAt: RESET_7D },
					amount: { used: 62, limit: 100, remaining: 38, usedFraction: 0.62, remainingFraction: 0.38, unit: "percent" },
					status: "ok",
				},
				{
					id: "anthropic:7d:sonnet",
					label: "Claude 7 Day (Sonnet)",
					scope: { provider: "anthropic", windowId: "7d", tier: "sonnet" },
					window: { id: "7d", label: "7 Day", durationMs: 7 * 24 * HOUR, resetsAt: RESET_7D },
					amount: { used: 12, limit: 100, remaining: 88, usedFraction: 0.12, remainingFraction: 0.88, unit: "percent" },
					status: "ok",
				},
			],
			metadata: {
				endpoint: "https://api.anthropic.com/api/oauth/usage",
				// the organization header is the account id of last resort, before /profile
				accountId: "4f1c-org",
				email: "dev@example.com",
				orgId: "4f1c-org",
			},
			raw: usageFixture,
		});
		expect(fetch.calls.map((call) => call.url)).toEqual([
			"https://api.anthropic.com/api/oauth/usage",
			"https://api.anthropic.com/api/oauth/profile",
		]);
	});

	it("takes the account id from /profile when the payload and headers carry none", async () => {
		const fetch = scriptedFetch([json(usageFixture), json(profileFixture)]);
		const report = await createAnthropicUsageProvider().fetchUsage(params(), usageContext(fetch, fixedClock(NOW)));
		expect(report?.metadata).toEqual({
			endpoint: "https://api.anthropic.com/api/oauth/usage",
			accountId: "b2f0c1d2-0000-4000-8000-000000000001",
			email: "dev@example.com",
		});
	});

	it("sends the Claude Code headers with the bearer token", async () => {
		const fetch = scriptedFetch([json(usageFixture), json(profileFixture)]);
		await createAnthropicUsageProvider().fetchUsage(params(), usageContext(fetch, fixedClock(NOW)));
		expect(fetch.calls[0]?.headers).toMatchObject({
			authorization: "Bearer sk-ant-oat01-test-access",
			"anthropic-beta": ANTHROPIC_USAGE_BETA,
			"user-agent": "claude-cli/2.1.165 (external, cli)",
			accept: "application/json, text/plain, */*",
			"content-type": "application/json",
		});
		expect(fetch.calls[1]?.headers.authorization).toBe("Bearer sk-ant-oat01-test-access");
	});

	it("reads inline identity, clamps utilization, derives statuses and skips buckets without utilization", async () => {
		const fetch = scriptedFetch([json(usageWithIdentityFixture)]);
		const report = await createAnthropicUsageProvider().fetchUsage(params(), usageContext(fetch, fixedClock(NOW)));
		expect(fetch.calls).toHaveLength(1); // identity complete: no /profile call
		expect(report?.metadata).toEqual({
			endpoint: "https://api.anthropic.com/api/oauth/usage",
			accountId: "acct-inline",
			email: "inline@example.com",
		});
		expect(report?.limits.map((limit) => [limit.id, limit.status, limit.amount.used, limit.window?.resetsAt])).toEqual([
			["anthropic:5h", "exhausted", 100, RESET_5H],
			["anthropic:7d", "warning", 91.5, undefined],
			["anthropic:7d:opus", "exhausted", 100, RESET_7D],
		]);
		expect(report?.limits[2]?.scope).toEqual({ provider: "anthropic", windowId: "7d", tier: "opus" });
	});

	it("uses the credential's identity and skips /profile when both are known", async () => {
		const fetch = scriptedFetch([json(usageFixture)]);
		const report = await createAnthropicUsageProvider().fetchUsage(
			params({ accountId: "acct-1", email: "a@example.com" }),
			usageContext(fetch, fixedClock(NOW)),
		);
		expect(fetch.calls).toHaveLength(1);
		expect(report?.metadata).toMatchObject({ accountId: "acct-1", email: "a@example.com" });
	});

	it("retries transient statuses with max(500·2ⁿ, Retry-After) backoff", async () => {
		const fetch = scriptedFetch([
			json({ error: "overloaded" }, 503),
			json({ error: "rate" }, 429, { "retry-after": "3" }),
			json(usageFixture),
		]);
		const ctx = usageContext(fetch, fixedClock(NOW));
		const report = await createAnthropicUsageProvider().fetchUsage(params({ accountId: "a", email: "e@x" }), ctx);
		expect(report?.limits).toHaveLength(3);
		expect(ctx.waits).toEqual([500, 3000]);
		expect(fetch.calls).toHaveLength(3);
	});

	it("reads Retry-After as an HTTP date against the injected clock", async () => {
		const retryAt = new Date(NOW + 10_000).toUTCString();
		const fetch = scriptedFetch([json({}, 502, { "retry-after": retryAt }), json(usageFixture)]);
		const ctx = usageContext(fetch, fixedClock(NOW));
		await createAnthropicUsageProvider().fetchUsage(params({ accountId: "a", email: "e@x" }), ctx);
		expect(ctx.waits).toEqual([10_000]);
	});

	it("retries a body without usable buckets, then gives up with null after 3 attempts", async () => {
		const fetch = scriptedFetch([json({ five_hour: null, seven_day: { resets_at: "2026-07-03T09:00:00Z" } })]);
		const ctx = usageContext(fetch, fixedClock(NOW));
		const report = await createAnthropicUsageProvider().fetchUsage(params(), ctx);
		expect(report).toBeNull();
		expect(fetch.calls).toHaveLength(3);
		expect(ctx.waits).toEqual([500, 1000]);
	});

	it("retries a network error and then succeeds", async () => {
		const fetch = scriptedFetch([new TypeError("fetch failed"), json(usageFixture)]);
		const ctx = usageContext(fetch, fixedClock(NOW));
		const report = await createAnthropicUsageProvider().fetchUsage(params({ accountId: "a", email: "e@x" }), ctx);
		expect(report?.limits[0]?.id).toBe("anthropic:5h");
		expect(fetch.calls).toHaveLength(2);
	});

	it("returns null at once on a non-transient error status", async () => {
		const fetch = scriptedFetch([json({ error: "unauthorized" }, 401)]);
		const ctx = usageContext(fetch, fixedClock(NOW));
		expect(await createAnthropicUsageProvider().fetchUsage(params(), ctx)).toBeNull();
		expect(fetch.calls).toHaveLength(1);
		expect(ctx.waits).toEqual([]);
	});

	it("stops promptly with null when the signal aborts during backoff", async () => {
		const controller = new AbortController();
		const fetch = scriptedFetch([json({}, 503)]);
		const ctx = usageContext(fetch, fixedClock(NOW));
		ctx.retryWait = async (_delay, signal) => {
			controller.abort();
			if (signal?.aborted) throw signal.reason;
		};
		const report = await createAnthropicUsageProvider().fetchUsage(params({}, { signal: controller.signal }), ctx);
		expect(report).toBeNull();
		expect(fetch.calls).toHaveLength(1);
	});

	it("passes the caller's signal to fetch", async () => {
		const controller = new AbortController();
		let seen: AbortSignal | undefined;
		const fetch = scriptedFetch([json(usageFixture)]);
		const ctx = usageContext(async (input, init) => {
			seen = init?.signal ?? undefined;
			return fetch(input, init);
		}, fixedClock(NOW));
		await createAnthropicUsageProvider().fetchUsage(
			params({ accountId: "a", email: "e@x" }, { signal: controller.signal }),
			ctx,
		);
		expect(seen).toBe(controller.signal);
	});

	it("only supports anthropic OAuth credentials with an access token", async () => {
		const provider = createAnthropicUsageProvider();
		expect(provider.supports?.(params())).toBe(true);
		expect(provider.supports?.({ provider: "anthropic", credential: { type: "api_key", apiKey: "k" } })).toBe(false);
		expect(provider.supports?.({ ...params(), provider: "openai-codex" })).toBe(false);
		const fetch = scriptedFetch([json(usageFixture)]);
		const report = await provider.fetchUsage(
			{ provider: "anthropic", credential: { type: "oauth" } },
			usageContext(fetch, fixedClock(NOW)),
		);
		expect(report).toBeNull();
		expect(fetch.calls).toHaveLength(0);
	});

	it("derives the usage base from a caller's base URL", async () => {
		const fetch = scriptedFetch([json(usageFixture)]);
		await createAnthropicUsageProvider({ usageBaseUrl: "http://127.0.0.1:1/anthropic/api/oauth" }).fetchUsage(
			params({ accountId: "a", email: "e@x" }, { baseUrl: "https://gateway.example.com/claude/v1/" }),
			usageContext(fetch, fixedClock(NOW)),
		);
		expect(fetch.calls[0]?.url).toBe("https://gateway.example.com/claude/api/oauth/usage");
	});

	it("uses the configured usage base as is without a caller base URL", async () => {
		const fetch = scriptedFetch([json(usageFixture)]);
		await createAnthropicUsageProvider({ usageBaseUrl: "http://127.0.0.1:1/anthropic/api/oauth/" }).fetchUsage(
			params({ accountId: "a", email: "e@x" }),
			usageContext(fetch, fixedClock(NOW)),
		);
		expect(fetch.calls[0]?.url).toBe("http://127.0.0.1:1/anthropic/api/oauth/usage");
	});
});

describe("normalizeAnthropicUsageBaseUrl", () => {
	const fallback = "https://api.anthropic.com/api/oauth";
	it.each([
		[undefined, fallback],
		["", fallback],
		["https://api.anthropic.com/v1", "https://api.anthropic.com/api/oauth"],
		["https://api.anthropic.com", "https://api.anthropic.com/api/oauth"],
		["https://proxy.example.com/anthropic/v1/", "https://proxy.example.com/anthropic/api/oauth"],
		["https://proxy.example.com/x/api/oauth", "https://proxy.example.com/x/api/oauth"],
		["https://proxy.example.com/x/api/oauth/", "https://proxy.example.com/x/api/oauth"],
		["not a url", fallback],
	])("%s → %s", (input, output) => {
		expect(normalizeAnthropicUsageBaseUrl(input, fallback)).toBe(output);
	});
});
