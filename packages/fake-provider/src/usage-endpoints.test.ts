import { afterEach, describe, expect, it } from "vitest";
import { startFakeProvider } from "./fake-provider";
import { type ManualClock as TestClock, createManualClock as testClock } from "./manual-clock";
import type { FakeAccount, FakeProvider } from "./types";

let fake: FakeProvider | undefined;
let clock: TestClock;
afterEach(async () => {
	await fake?.close();
	fake = undefined;
});

async function start() {
	clock = testClock();
	fake = await startFakeProvider({ now: clock.now });
	return fake;
}

const HOUR = 3_600_000;
const iso = (ms: number) => new Date(ms).toISOString();

async function get(
	f: FakeProvider,
	provider: string,
	path: string,
	authorization: string | undefined,
	init: { method?: string; body?: unknown } = {},
) {
	const headers: Record<string, string> = { "content-type": "application/json" };
	if (authorization !== undefined) headers.authorization = authorization;
	const response = await fetch(`${f.baseUrl(provider)}${path}`, {
		method: init.method ?? "GET",
		headers,
		body: init.body === undefined ? undefined : JSON.stringify(init.body),
	});
	return {
		status: response.status,
		headers: response.headers,
		body: (await response.json()) as Record<string, unknown>,
	};
}

const bearer = (a: FakeAccount) => `Bearer ${a.accessToken}`;

describe("anthropic usage + profile", () => {
	it("renders the knobs as five_hour / seven_day / opus / sonnet buckets with the org header", async () => {
		const f = await start();
		const a = f.addAccount("anthropic", { email: "dev@example.com" });
		const now = clock.now();
		f.setUsage(a.id, {
			primary: { usedPercent: 37, resetsAt: now + 5 * HOUR },
			secondary: { usedPercent: 62, resetsAt: now + 72 * HOUR },
			buckets: { sonnet: { usedPercent: 12, resetsAt: now + 72 * HOUR } },
		});
		const usage = await get(f, "anthropic", "/api/oauth/usage", bearer(a));
		expect(usage.status).toBe(200);
		expect(usage.body).toEqual({
			five_hour: { utilization: 37, resets_at: iso(now + 5 * HOUR) },
			seven_day: { utilization: 62, resets_at: iso(now + 72 * HOUR) },
			seven_day_opus: null,
			seven_day_sonnet: { utilization: 12, resets_at: iso(now + 72 * HOUR) },
		});
		expect(usage.headers.get("anthropic-organization-id")).toMatch(/[0-9a-f-]{36}/);
		const profile = await get(f, "anthropic", "/api/oauth/profile", bearer(a));
		expect(profile.body).toMatchObject({ account: { uuid: a.accountId, email: "dev@example.com" } });
	});

	it("requires the current bearer token", async () => {
		const f = await start();
		const a = f.addAccount("anthropic");
		expect((await get(f, "anthropic", "/api/oauth/usage", undefined)).status).toBe(401);
		expect((await get(f, "anthropic", "/api/oauth/usage", "Bearer wrong")).status).toBe(401);
		expect((await get(f, "anthropic", "/api/oauth/usage", a.accessToken)).status).toBe(401);
		clock.advance(HOUR);
		const expired = await get(f, "anthropic", "/api/oauth/usage", bearer(a));
		expect(expired.status).toBe(401);
		expect(expired.body).toMatchObject({ error: { type: "authentication_error" } });
	});

	it("derives the 5h utilization from inference use when not set explicitly", async () => {
		const f = await start();
		const a = f.addAccount("anthropic", { quota: 4 });
		await fetch(`${f.baseUrl("anthropic")}/inference`, { method: "POST", headers: { authorization: bearer(a) } });
		const usage = await get(f, "anthropic", "/api/oauth/usage", bearer(a));
		expect(usage.body.five_hour).toEqual({ utilization: 25, resets_at: iso(clock.now() + 5 * HOUR) });
		expect(usage.body.seven_day).toEqual({ utilization: 0, resets_at: iso(clock.now() + 7 * 24 * HOUR) });
	});

	it("serves a raw body override verbatim", async () => {
		const f = await start();
		const a = f.addAccount("anthropic", { usage: { raw: { usage: { five_hour: null, oddity: true } } } });
		expect((await get(f, "anthropic", "/api/oauth/usage", bearer(a))).body).toEqual({ five_hour: null, oddity: true });
	});
});

describe("openai-codex usage + saved resets", () => {
	it("renders wham/usage with windows, additional limits, plan and credits", async () => {
		const f = await start();
		const a = f.addAccount("openai-codex");
		const now = clock.now();
		f.setUsage(a.id, {
			plan: "pro",
			primary: { usedPercent: 23, resetsAt: now + 9000_000 },
			secondary: { usedPercent: 41, resetsAt: now + 302_400_000 },
			buckets: { codex_bengalfox: { usedPercent: 0, resetsAt: now + 18_000_000 } },
			resetCredits: 1,
		});
		const usage = await get(f, "openai-codex", "/backend-api/wham/usage", bearer(a));
		expect(usage.body).toEqual({
			plan_type: "pro",
			rate_limit: {
				allowed: true,
				limit_reached: false,
				primary_window: {
					used_percent: 23,
					limit_window_seconds: 18000,
					reset_after_seconds: 9000,
					reset_at: Math.floor((now + 9000_000) / 1000),
				},
				secondary_window: {
					used_percent: 41,
					limit_window_seconds: 604800,
					reset_after_seconds: 302400,
					reset_at: Math.floor((now + 302_400_000) / 1000),
				},
			},
			additional_rate_limits: [
				{
					limit_name: "codex_bengalfox",
					metered_feature: "codex_bengalfox",
					rate_limit: {
						allowed: true,
						limit_reached: false,
						primary_window: {
							used_percent: 0,
							limit_window_seconds: 18000,
							reset_after_seconds: 18000,
							reset_at: Math.floor((now + 18_000_000) / 1000),
						},
					},
				},
			],
			rate_limit_reset_credits: { available_count: 1 },
		});
	});

	it("limit_reached when a window is at 100 %", async () => {
		const f = await start();
		const a = f.addAccount("openai-codex", { usage: { secondary: { usedPercent: 100 } } });
		const usage = await get(f, "openai-codex", "/backend-api/wham/usage", bearer(a));
		expect(usage.body.rate_limit).toMatchObject({ allowed: false, limit_reached: true });
	});

	it("lists credits and consumes them idempotently on redeem_request_id", async () => {
		const f = await start();
		const a = f.addAccount("openai-codex", { usage: { primary: { usedPercent: 80 }, resetCredits: 1 } });
		const list = await get(f, "openai-codex", "/backend-api/wham/rate-limit-reset-credits", bearer(a));
		expect(list.body.available_count).toBe(1);
		const credits = list.body.credits as Array<Record<string, unknown>>;
		expect(credits[0]).toMatchObject({
			reset_type: "codex_rate_limits",
			status: "available",
			granted_at: iso(clock.now()),
			redeem_started_at: null,
			redeemed_at: null,
		});
		const consume = (requestId: string) =>
			get(f, "openai-codex", "/backend-api/wham/rate-limit-reset-credits/consume", bearer(a), {
				method: "POST",
				body: { credit_id: credits[0]?.id, redeem_request_id: requestId },
			});
		const first = await consume("req-1");
		expect(first).toMatchObject({ status: 200, body: { code: "reset" } });
		expect(await consume("req-1")).toMatchObject({ status: 200, body: { code: "reset" } });
		const usage = await get(f, "openai-codex", "/backend-api/wham/usage", bearer(a));
		expect(usage.body.rate_limit_reset_credits).toEqual({ available_count: 0 });
		expect((usage.body.rate_limit as { primary_window: { used_percent: number } }).primary_window.used_percent).toBe(0);
		expect((await consume("req-2")).body.code).toBe("already_redeemed");
		const unknown = await get(f, "openai-codex", "/backend-api/wham/rate-limit-reset-credits/consume", bearer(a), {
			method: "POST",
			body: { credit_id: "nope", redeem_request_id: "req-3" },
		});
		expect(unknown.body.code).toBe("no_credit");
	});

	it("nothing_to_reset when usage is at zero", async () => {
		const f = await start();
		const a = f.addAccount("openai-codex", { usage: { resetCredits: 1 } });
		const list = await get(f, "openai-codex", "/backend-api/wham/rate-limit-reset-credits", bearer(a));
		const id = (list.body.credits as Array<{ id: string }>)[0]?.id;
		const consumed = await get(f, "openai-codex", "/backend-api/wham/rate-limit-reset-credits/consume", bearer(a), {
			method: "POST",
			body: { credit_id: id, redeem_request_id: "x" },
		});
		expect(consumed.body.code).toBe("nothing_to_reset");
	});
});

describe("google providers", () => {
	it("gemini: loadCodeAssist gives the project and tier; retrieveUserQuota the buckets", async () => {
		const f = await start();
		const a = f.addAccount("google-gemini-cli", { plan: "standard-tier" });
		const now = clock.now();
		f.setUsage(a.id, { primary: { usedPercent: 13, resetsAt: now + 21 * HOUR } });
		const load = await get(f, "google-gemini-cli", "/v1internal:loadCodeAssist", bearer(a), {
			method: "POST",
			body: { metadata: { pluginType: "GEMINI" } },
		});
		expect(load.body).toMatchObject({ cloudaicompanionProject: a.projectId, currentTier: { id: "standard-tier" } });
		const quota = await get(f, "google-gemini-cli", "/v1internal:retrieveUserQuota", bearer(a), {
			method: "POST",
			body: { project: a.projectId },
		});
		expect(quota.body).toEqual({
			buckets: [
				{ modelId: "gemini-2.5-pro", tokenType: "REQUESTS", remainingFraction: 0.87, resetTime: iso(now + 21 * HOUR) },
				{
					modelId: "gemini-2.5-flash",
					tokenType: "REQUESTS",
					remainingFraction: 0.87,
					resetTime: iso(now + 21 * HOUR),
				},
			],
		});
		const wrongProject = await get(f, "google-gemini-cli", "/v1internal:retrieveUserQuota", bearer(a), {
			method: "POST",
			body: { project: "someone-else" },
		});
		expect(wrongProject.status).toBe(403);
	});

	it("gemini: buckets replace the default model list", async () => {
		const f = await start();
		const a = f.addAccount("google-gemini-cli", {
			usage: { buckets: { "gemini-3-pro": { usedPercent: 100, resetsAt: clock.now() + HOUR } } },
		});
		const quota = await get(f, "google-gemini-cli", "/v1internal:retrieveUserQuota", bearer(a), {
			method: "POST",
			body: {},
		});
		expect(quota.body.buckets).toEqual([
			{ modelId: "gemini-3-pro", tokenType: "REQUESTS", remainingFraction: 0, resetTime: iso(clock.now() + HOUR) },
		]);
	});

	it("antigravity: fetchAvailableModels with quotaInfo / weeklyQuotaInfo and model providers", async () => {
		const f = await start();
		const a = f.addAccount("google-antigravity");
		const now = clock.now();
		f.setUsage(a.id, {
			primary: { usedPercent: 60, resetsAt: now + 10 * HOUR },
			secondary: { usedPercent: 20, resetsAt: now + 6 * 24 * HOUR },
		});
		const missing = await get(f, "google-antigravity", "/v1internal:fetchAvailableModels", bearer(a), {
			method: "POST",
			body: {},
		});
		expect(missing.status).toBe(400);
		const models = await get(f, "google-antigravity", "/v1internal:fetchAvailableModels", bearer(a), {
			method: "POST",
			body: { project: a.projectId },
		});
		expect(models.body).toEqual({
			models: {
				"gemini-3.1-pro": {
					displayName: "gemini-3.1-pro",
					modelProvider: "MODEL_PROVIDER_GOOGLE",
					quotaInfo: { remainingFraction: 0.4, resetTime: iso(now + 10 * HOUR) },
					weeklyQuotaInfo: { remainingFraction: 0.8, resetTime: iso(now + 6 * 24 * HOUR) },
				},
				"claude-sonnet-4-6": {
					displayName: "claude-sonnet-4-6",
					modelProvider: "MODEL_PROVIDER_ANTHROPIC",
					quotaInfo: { remainingFraction: 0.4, resetTime: iso(now + 10 * HOUR) },
					weeklyQuotaInfo: { remainingFraction: 0.8, resetTime: iso(now + 6 * 24 * HOUR) },
				},
			},
		});
	});

	it("userinfo returns the email", async () => {
		const f = await start();
		const a = f.addAccount("google-antigravity", { email: "g@example.com" });
		expect((await get(f, "google-antigravity", "/oauth2/v1/userinfo?alt=json", bearer(a))).body).toMatchObject({
			email: "g@example.com",
			verified_email: true,
		});
	});
});

describe("github-copilot", () => {
	it("copilot_internal/user, /user and billing; accepts the `token` scheme", async () => {
		const f = await start();
		const a = f.addAccount("github-copilot", { accountId: "octocat", email: "o@example.com" });
		const now = clock.now();
		f.setUsage(a.id, {
			plan: "individual",
			entitlement: 300,
			primary: { usedPercent: 29.7, resetsAt: now + 30 * 24 * HOUR },
		});
		const user = await get(f, "github-copilot", "/copilot_internal/user", `token ${a.accessToken}`);
		expect(user.status).toBe(200);
		expect(user.body).toMatchObject({
			login: "octocat",
			copilot_plan: "individual",
			quota_reset_date: iso(now + 30 * 24 * HOUR),
			quota_snapshots: {
				chat: { unlimited: true, entitlement: 0, remaining: 0, percent_remaining: 100 },
				completions: { unlimited: true },
				premium_interactions: {
					entitlement: 300,
					remaining: 211,
					percent_remaining: 70.33,
					unlimited: false,
					overage_count: 0,
					quota_id: "premium_interactions",
				},
			},
			endpoints: { api: f.baseUrl("github-copilot") },
		});
		expect((await get(f, "github-copilot", "/user", bearer(a))).body).toMatchObject({ login: "octocat" });
		const billing = await get(f, "github-copilot", "/users/octocat/settings/billing/premium_request/usage", bearer(a));
		expect(billing.body).toMatchObject({
			timePeriod: { year: 2026, month: 6 },
			user: "octocat",
			usageItems: [{ sku: "Copilot Premium Request", grossQuantity: 89, limit: 300 }],
		});
		const other = await get(f, "github-copilot", "/users/someone/settings/billing/premium_request/usage", bearer(a));
		expect(other.status).toBe(404);
	});
});

describe("kimi-code", () => {
	it("usages: summary + a 300-minute limit, numbers as strings, resetTime inside window", async () => {
		const f = await start();
		const a = f.addAccount("kimi-code");
		const now = clock.now();
		f.setUsage(a.id, {
			primary: { usedPercent: 6, resetsAt: now + 5 * HOUR },
			secondary: { usedPercent: 15.234375, resetsAt: now + 6 * 24 * HOUR },
		});
		const usage = await get(f, "kimi-code", "/coding/v1/usages", bearer(a));
		expect(usage.body).toEqual({
			usage: { limit: "2048", used: "312", remaining: "1736", resetTime: iso(now + 6 * 24 * HOUR) },
			limits: [
				{
					window: { duration: 300, timeUnit: "TIME_UNIT_MINUTE", resetTime: iso(now + 5 * HOUR) },
					detail: { limit: "200", used: "12", remaining: "188", resetTime: iso(now + 5 * HOUR) },
				},
			],
		});
	});
});

describe("zai", () => {
	it("quota/limit with the raw key (no Bearer), and model-usage", async () => {
		const f = await start();
		const a = f.addAccount("zai");
		const now = clock.now();
		f.setUsage(a.id, {
			primary: { usedPercent: 12, resetsAt: now + 2 * HOUR },
			secondary: { usedPercent: 40, resetsAt: now + 5 * 24 * HOUR },
			buckets: { requests: { usedPercent: 3.7, resetsAt: now + 20 * 24 * HOUR } },
		});
		const key = a.apiKey ?? "";
		expect((await get(f, "zai", "/api/monitor/usage/quota/limit", `Bearer ${key}`)).status).toBe(401);
		const quota = await get(f, "zai", "/api/monitor/usage/quota/limit", key);
		expect(quota.status).toBe(200);
		expect(quota.body).toEqual({
			code: 200,
			msg: "Operation successful",
			success: true,
			data: {
				limits: [
					{ type: "TOKENS_LIMIT", unit: 3, number: 5, percentage: 12, nextResetTime: now + 2 * HOUR },
					{ type: "TOKENS_LIMIT", unit: 6, number: 1, percentage: 40, nextResetTime: now + 5 * 24 * HOUR },
					{
						type: "TIME_LIMIT",
						unit: 5,
						number: 1,
						usage: 1000,
						currentValue: 37,
						remaining: 963,
						percentage: 3.7,
						nextResetTime: now + 20 * 24 * HOUR,
						usageDetails: [
							{ modelCode: "search-prime", usage: 37 },
							{ modelCode: "web-reader", usage: 0 },
							{ modelCode: "zread", usage: 0 },
						],
					},
				],
			},
		});
		const modelUsage = await get(
			f,
			"zai",
			`/api/monitor/usage/model-usage?startTime=${encodeURIComponent("2026-06-23+10:00:00")}&endTime=x`,
			key,
		);
		expect(modelUsage.body).toMatchObject({ success: true });
		expect(f.requests.at(-1)?.query.startTime).toBe("2026-06-23+10:00:00");
	});
});
