import {
	AuthpoolError,
	type FetchLike,
	REMOTE_REFRESH_SENTINEL,
	silentLogger,
	type UsageFetchContext,
	type UsageFetchParams,
} from "@authpool/core";
import { describe, expect, it } from "vitest";
import billing from "./__fixtures__/billing-premium-request-usage.json";
import internalUser from "./__fixtures__/copilot-internal-user.json";
import limitedUser from "./__fixtures__/copilot-internal-user-limited.json";
import {
	createCopilotUsageProvider,
	parseCopilotBillingUsage,
	parseCopilotInternalUser,
	resolveGithubApiBaseUrl,
} from "./copilot-usage-provider";

const NOW = Date.parse("2026-06-30T12:00:00Z");
const PROVIDER = "github-copilot";
const MONTHLY = { id: "monthly", label: "Monthly", resetsAt: Date.parse("2026-08-01") };

describe("parseCopilotInternalUser", () => {
	it("maps the recorded example: premium only, unlimited chat/completions dropped", () => {
		expect(parseCopilotInternalUser(internalUser, "octocat")).toEqual([
			{
				id: "copilot:premium",
				label: "Premium Requests",
				scope: { provider: PROVIDER, accountId: "octocat", tier: "individual", windowId: "monthly" },
				window: MONTHLY,
				amount: {
					used: 89,
					limit: 300,
					remaining: 211,
					usedFraction: 89 / 300,
					remainingFraction: 211 / 300,
					unit: "requests",
				},
				status: "ok",
			},
		]);
	});

	it("emits limited chat/completions with warning/exhausted statuses and overage notes", () => {
		const limits = parseCopilotInternalUser(limitedUser);
		expect(limits.map((limit) => [limit.id, limit.label, limit.status, limit.notes])).toEqual([
			["copilot:premium", "Premium Requests", "exhausted", ["Overage requests: 7"]],
			["copilot:chat", "Chat Requests", "warning", undefined],
			["copilot:completions", "Completions", "exhausted", undefined],
		]);
		expect(limits[1]?.amount).toEqual({
			used: 47,
			limit: 50,
			remaining: 3,
			usedFraction: 47 / 50,
			remainingFraction: 3 / 50,
			unit: "requests",
		});
		expect(limits[0]?.scope).toEqual({ provider: PROVIDER, tier: "free", windowId: "monthly" });
		expect(limits[0]?.window?.resetsAt).toBe(Date.parse("2026-08-01T00:00:00Z"));
	});

	it("reports an unlimited premium snapshot as ok with no amounts, and ignores incomplete snapshots", () => {
		const limits = parseCopilotInternalUser({
			copilot_plan: "business",
			quota_snapshots: {
				premium_interactions: { entitlement: 0, remaining: 0, percent_remaining: 100, unlimited: true },
				chat: { entitlement: 10, remaining: 5, unlimited: false },
			},
		});
		expect(limits).toEqual([
			{
				id: "copilot:premium",
				label: "Premium Requests",
				scope: { provider: PROVIDER, tier: "business" },
				amount: { unit: "requests" },
				status: "ok",
				notes: ["Unlimited"],
			},
		]);
		// "unlimited" must be a real boolean.
		expect(
			parseCopilotInternalUser({
				quota_snapshots: {
					premium_interactions: { entitlement: 1, remaining: 1, percent_remaining: 100, unlimited: "false" },
				},
			}),
		).toEqual([]);
	});
});

describe("parseCopilotBillingUsage", () => {
	it("maps the recorded billing example to premium + per-model limits", () => {
		const window = { id: "billing-period", label: "2026-06" };
		const amount = {
			used: 42,
			limit: 300,
			remaining: 258,
			usedFraction: 42 / 300,
			remainingFraction: 258 / 300,
			unit: "requests",
		};
		expect(parseCopilotBillingUsage(billing)).toEqual([
			{
				id: "copilot:premium",
				label: "Premium Requests",
				scope: { provider: PROVIDER, accountId: "octocat", windowId: "billing-period" },
				window,
				amount,
				status: "ok",
			},
			{
				id: "copilot:model:Claude Sonnet 4",
				label: "Model Claude Sonnet 4",
				scope: { provider: PROVIDER, accountId: "octocat", modelId: "Claude Sonnet 4", windowId: "billing-period" },
				window,
				amount,
				status: "ok",
			},
		]);
	});

	it("sums premium SKUs, treats a zero cap as unknown, and labels a yearly period", () => {
		const limits = parseCopilotBillingUsage({
			timePeriod: { year: 2026 },
			user: "octocat",
			usageItems: [
				{ sku: "Copilot Premium Request", model: "GPT-5", grossQuantity: 3 },
				{ sku: "Premium Request Addon", model: "o3", grossQuantity: 0 },
				{ sku: "Actions", model: "runner", grossQuantity: 100 },
			],
		});
		expect(limits?.[0]).toMatchObject({
			window: { id: "billing-period", label: "2026" },
			amount: { used: 3, unit: "requests" },
			status: "unknown",
		});
		expect(limits?.[0]?.amount.limit).toBeUndefined();
		expect(limits?.map((limit) => limit.id)).toEqual([
			"copilot:premium",
			"copilot:model:GPT-5",
			"copilot:model:runner",
		]);
		expect(parseCopilotBillingUsage({ message: "Not Found" })).toBeNull();
	});
});

describe("resolveGithubApiBaseUrl", () => {
	it("prefers a GitHub baseUrl, then the enterprise URL, then the default", () => {
		expect(resolveGithubApiBaseUrl("https://ghe.example.com/api/v3/", undefined)).toBe(
			"https://ghe.example.com/api/v3",
		);
		expect(resolveGithubApiBaseUrl("https://api.individual.githubcopilot.com", undefined)).toBe(
			"https://api.github.com",
		);
		expect(resolveGithubApiBaseUrl(undefined, "https://ghe.example.com/")).toBe("https://ghe.example.com");
		expect(resolveGithubApiBaseUrl(undefined, "api.ghe.example.com")).toBe("https://api.ghe.example.com");
		expect(resolveGithubApiBaseUrl(undefined, "ghe.example.com")).toBe("https://api.ghe.example.com");
		expect(resolveGithubApiBaseUrl(undefined, "  ", "http://127.0.0.1:9/gh/")).toBe("http://127.0.0.1:9/gh");
	});
});

interface Call {
	url: string;
	headers: Record<string, string>;
}

function json(body: unknown, status = 200): Response {
	return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
}

function routes(table: Record<string, () => Response>): { fetch: FetchLike; calls: Call[] } {
	const calls: Call[] = [];
	const fetch: FetchLike = async (input, init) => {
		const url = String(input);
		calls.push({ url, headers: (init?.headers ?? {}) as Record<string, string> });
		const path = new URL(url).pathname.replace(/^\/gh/, "");
		const answer = table[path];
		return answer ? answer() : json({ message: "Not Found" }, 404);
	};
	return { fetch, calls };
}

function context(fetch: FetchLike): UsageFetchContext {
	return { fetch, clock: { now: () => NOW }, logger: silentLogger, env: {} };
}

const API = "http://127.0.0.1:9/gh";

function oauthParams(credential: Partial<UsageFetchParams["credential"]> = {}): UsageFetchParams {
	return {
		provider: PROVIDER,
		credential: { type: "oauth", accessToken: "gho_same", refreshToken: "gho_same", ...credential },
	};
}

describe("createCopilotUsageProvider().fetchUsage", () => {
	it("OAuth: reads copilot_internal/user with the GitHub token and resolves the login via /user", async () => {
		const { fetch, calls } = routes({
			"/copilot_internal/user": () => json(internalUser),
			"/user": () => json({ login: "octocat" }),
		});
		const report = await createCopilotUsageProvider({ githubApiBaseUrl: API }).fetchUsage(
			oauthParams({ email: "octo@example.com" }),
			context(fetch),
		);
		expect(calls.map((call) => call.url)).toEqual([`${API}/copilot_internal/user`, `${API}/user`]);
		expect(calls[0]?.headers).toMatchObject({
			Authorization: "Bearer gho_same",
			Accept: "application/json",
			"User-Agent": "opencode/1.3.15",
		});
		expect(calls[1]?.headers).toMatchObject({
			Accept: "application/vnd.github+json",
			"X-GitHub-Api-Version": "2022-11-28",
		});
		expect(report).toEqual({
			provider: PROVIDER,
			fetchedAt: NOW,
			limits: parseCopilotInternalUser(internalUser, "octocat"),
			metadata: { accountId: "octocat", email: "octo@example.com", plan: "individual", quotaResetDate: "2026-08-01" },
			raw: internalUser,
		});
	});

	it("OAuth behind a broker: the refresh sentinel is skipped in favour of the access token", async () => {
		const { fetch, calls } = routes({ "/copilot_internal/user": () => json(internalUser) });
		const report = await createCopilotUsageProvider({ githubApiBaseUrl: API }).fetchUsage(
			oauthParams({ refreshToken: REMOTE_REFRESH_SENTINEL, accessToken: "gho_real", accountId: "octocat" }),
			context(fetch),
		);
		expect(calls).toHaveLength(1);
		expect(calls[0]?.headers.Authorization).toBe("Bearer gho_real");
		expect(report?.metadata?.accountId).toBe("octocat");
	});

	it("derives the API base from enterpriseUrl", async () => {
		const { fetch, calls } = routes({ "/copilot_internal/user": () => json(internalUser) });
		await createCopilotUsageProvider({ githubApiBaseUrl: "http://127.0.0.1:1/unused" }).fetchUsage(
			oauthParams({ enterpriseUrl: `${API}/`, accountId: "octocat" }),
			context(fetch),
		);
		expect(calls[0]?.url).toBe(`${API}/copilot_internal/user`);
	});

	it("API key: uses the billing API for a known username", async () => {
		const { fetch, calls } = routes({ "/users/octocat/settings/billing/premium_request/usage": () => json(billing) });
		const report = await createCopilotUsageProvider({ githubApiBaseUrl: API }).fetchUsage(
			{ provider: PROVIDER, credential: { type: "api_key", apiKey: "ghp_key", metadata: { username: "octocat" } } },
			context(fetch),
		);
		expect(calls.map((call) => call.url)).toEqual([`${API}/users/octocat/settings/billing/premium_request/usage`]);
		expect(report).toEqual({
			provider: PROVIDER,
			fetchedAt: NOW,
			limits: parseCopilotBillingUsage(billing),
			metadata: { accountId: "octocat", account: "octocat", period: { year: 2026, month: 6 } },
		});
	});

	it("API key: resolves the username via /user, and falls back to copilot_internal/user when billing fails", async () => {
		const { fetch, calls } = routes({
			"/user": () => json({ login: "octocat" }),
			"/copilot_internal/user": () => json(internalUser),
		});
		const report = await createCopilotUsageProvider({ githubApiBaseUrl: API }).fetchUsage(
			{ provider: PROVIDER, credential: { type: "api_key", apiKey: "ghp_key" } },
			context(fetch),
		);
		expect(calls.map((call) => new URL(call.url).pathname)).toEqual([
			"/gh/user",
			"/gh/users/octocat/settings/billing/premium_request/usage",
			"/gh/copilot_internal/user",
		]);
		expect(report?.limits.map((limit) => limit.id)).toEqual(["copilot:premium"]);
		expect(report?.metadata).toEqual({ accountId: "octocat", plan: "individual", quotaResetDate: "2026-08-01" });
	});

	it("returns null when every call fails, and does not support other providers or empty credentials", async () => {
		const { fetch } = routes({});
		const provider = createCopilotUsageProvider({ githubApiBaseUrl: API });
		expect(await provider.fetchUsage(oauthParams(), context(fetch))).toBeNull();
		expect(
			await provider.fetchUsage({ provider: PROVIDER, credential: { type: "api_key", apiKey: "k" } }, context(fetch)),
		).toBeNull();
		expect(provider.supports?.({ provider: "anthropic", credential: { type: "oauth", accessToken: "x" } })).toBe(false);
		expect(provider.supports?.({ provider: PROVIDER, credential: { type: "oauth" } })).toBe(false);
		expect(provider.supports?.({ provider: PROVIDER, credential: { type: "api_key" } })).toBe(false);
	});

	it("throws an abort error when the caller's signal aborts", async () => {
		const controller = new AbortController();
		const fetch: FetchLike = (_input, init) =>
			new Promise((_resolve, reject) => {
				init?.signal?.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")));
			});
		const pending = createCopilotUsageProvider({ githubApiBaseUrl: API }).fetchUsage(
			{ ...oauthParams(), signal: controller.signal },
			context(fetch),
		);
		controller.abort();
		const error = await pending.catch((e: unknown) => e);
		expect(AuthpoolError.isInstance(error) && error.code).toBe("ABORTED");
	});
});
