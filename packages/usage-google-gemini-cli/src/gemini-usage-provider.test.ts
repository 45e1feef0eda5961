import {
	AuthpoolError,
	type FetchLike,
	silentLogger,
	type UsageFetchContext,
	type UsageFetchParams,
} from "@authpool/core";
import { describe, expect, it } from "vitest";
import loadCodeAssist from "./__fixtures__/load-code-assist.json";
import retrieveUserQuota from "./__fixtures__/retrieve-user-quota.json";
import edgeCases from "./__fixtures__/retrieve-user-quota-edge-cases.json";
import { createGeminiUsageProvider, geminiModelTier, parseGeminiQuotaBuckets } from "./gemini-usage-provider";

const NOW = Date.parse("2026-06-30T12:00:00Z");
const RESET = Date.parse("2026-07-01T07:00:00Z");
const PROVIDER = "google-gemini-cli";

interface Call {
	url: string;
	init: RequestInit | undefined;
	body: unknown;
}

/** A scripted fetch: answers by URL suffix and records every call. */
function stubFetch(routes: Record<string, () => Response | Promise<Response>>): { fetch: FetchLike; calls: Call[] } {
	const calls: Call[] = [];
	const fetch: FetchLike = async (input, init) => {
		const url = String(input);
		calls.push({ url, init, body: init?.body ? JSON.parse(String(init.body)) : undefined });
		for (const [suffix, answer] of Object.entries(routes)) {
			if (url.endsWith(suffix)) return answer();
		}
		return new Response("not found", { status: 404 });
	};
	return { fetch, calls };
}

function json(body: unknown, status = 200): Response {
	return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
}

function context(
	fetch: FetchLike,
	env: Record<string, string | undefined> = {},
	logger: UsageFetchContext["logger"] = silentLogger,
): UsageFetchContext {
	return { fetch, clock: { now: () => NOW }, logger, env };
}

function params(credential: Partial<UsageFetchParams["credential"]> = {}, extra: Partial<UsageFetchParams> = {}) {
	return {
		provider: PROVIDER,
		credential: { type: "oauth" as const, accessToken: "ya29.access-one", expiresAt: NOW + 3_600_000, ...credential },
		...extra,
	};
}

describe("parseGeminiQuotaBuckets", () => {
	it("maps the recorded example to one limit per bucket", () => {
		const limits = parseGeminiQuotaBuckets(retrieveUserQuota, {
			provider: PROVIDER,
			accountId: "acct-1",
			projectId: "proud-lamp-a1b2c",
		});
		const window = { id: `reset-${RESET}`, label: "Quota window", resetsAt: RESET };
		expect(limits).toEqual([
			{
				id: `gemini-2.5-pro:reset-${RESET}`,
				label: "Gemini gemini-2.5-pro",
				scope: {
					provider: PROVIDER,
					accountId: "acct-1",
					projectId: "proud-lamp-a1b2c",
					modelId: "gemini-2.5-pro",
					tier: "Pro",
					windowId: `reset-${RESET}`,
				},
				window,
				amount: {
					unit: "percent",
					used: 13,
					remaining: 87,
					limit: 100,
					usedFraction: 1 - 0.87,
					remainingFraction: 0.87,
				},
			},
			{
				id: `gemini-2.5-flash:reset-${RESET}`,
				label: "Gemini gemini-2.5-flash",
				scope: {
					provider: PROVIDER,
					accountId: "acct-1",
					projectId: "proud-lamp-a1b2c",
					modelId: "gemini-2.5-flash",
					tier: "Flash",
					windowId: `reset-${RESET}`,
				},
				window,
				amount: { unit: "percent", used: 0, remaining: 100, limit: 100, usedFraction: 0, remainingFraction: 1 },
			},
		]);
		for (const limit of limits) expect(limit).not.toHaveProperty("status");
	});

	it("clamps fractions, rounds percents to one decimal, and falls back to the quota window", () => {
		const limits = parseGeminiQuotaBuckets(edgeCases, { provider: PROVIDER });
		expect(limits.map((limit) => limit.id)).toEqual([
			`gemini-3-flash-preview:reset-${RESET}`,
			"gemini-3.1-pro-preview:quota",
			"gemini-exp-flash-thing:quota",
			"gemini-ultra-pro-x:quota",
			`some-other-model:reset-${Date.parse("2026-07-02T00:00:00Z")}`,
			"unknown:quota",
		]);
		const [flash, clampedLow, clampedHigh, noFraction, untiered, noModel] = limits;
		expect(flash?.scope.tier).toBe("3-Flash");
		expect(flash?.amount).toEqual({
			unit: "percent",
			used: 87.7,
			remaining: 12.3,
			limit: 100,
			usedFraction: 1 - 0.123456,
			remainingFraction: 0.123456,
		});
		expect(clampedLow?.window).toEqual({ id: "quota", label: "Quota window" });
		expect(clampedLow?.amount).toMatchObject({ used: 100, remaining: 0, usedFraction: 1, remainingFraction: 0 });
		expect(clampedLow?.scope.tier).toBe("Pro");
		expect(clampedHigh?.amount).toMatchObject({ used: 0, remaining: 100, remainingFraction: 1 });
		expect(clampedHigh?.scope.tier).toBe("Flash");
		expect(noFraction?.amount).toEqual({ unit: "percent" });
		expect(noFraction?.scope.tier).toBe("Pro");
		expect(untiered?.scope).not.toHaveProperty("tier");
		expect(noModel).toMatchObject({ label: "Gemini quota", scope: { provider: PROVIDER, windowId: "quota" } });
		expect(noModel?.scope).not.toHaveProperty("modelId");
	});

	it("returns no limits for a body without buckets", () => {
		expect(parseGeminiQuotaBuckets({ error: "nope" }, { provider: PROVIDER })).toEqual([]);
		expect(parseGeminiQuotaBuckets(null, { provider: PROVIDER })).toEqual([]);
	});
});

describe("geminiModelTier", () => {
	it("uses the exact table first, then flash/pro substrings", () => {
		expect(geminiModelTier("gemini-3.5-flash")).toBe("3-Flash");
		expect(geminiModelTier("gemini-2.0-flash")).toBe("Flash");
		expect(geminiModelTier("gemini-pro-agent")).toBe("Pro");
		expect(geminiModelTier("Gemini-Next-FLASH")).toBe("Flash");
		expect(geminiModelTier("imagen-4")).toBeUndefined();
	});
});

describe("createGeminiUsageProvider().fetchUsage", () => {
	it("still reads the legacy PI_AI_GEMINI_CLI_VERSION, warning once per provider; the new name wins", async () => {
		const agents: string[] = [];
		const fetch: FetchLike = async (input, init) => {
			agents.push((init?.headers as Record<string, string> | undefined)?.["User-Agent"] ?? "");
			return String(input).endsWith(":loadCodeAssist") ? json(loadCodeAssist) : json(retrieveUserQuota);
		};
		const warnings: string[] = [];
		const logger = { ...silentLogger, warn: (message: string) => warnings.push(message) };
		const provider = createGeminiUsageProvider({ codeAssistBaseUrl: "http://127.0.0.1:1/gemini" });
		const legacy = { PI_AI_GEMINI_CLI_VERSION: "1.2.3" };
		await provider.fetchUsage(params(), context(fetch, legacy, logger));
		await provider.fetchUsage(params(), context(fetch, legacy, logger));
		expect(new Set(agents.map((a) => a.split("/")[1]))).toEqual(new Set(["1.2.3"]));
		expect(warnings).toEqual(["PI_AI_GEMINI_CLI_VERSION is deprecated; set AUTHPOOL_GEMINI_CLI_VERSION instead"]);

		agents.length = 0;
		const both = { AUTHPOOL_GEMINI_CLI_VERSION: "2.0.0", PI_AI_GEMINI_CLI_VERSION: "1.2.3" };
		await createGeminiUsageProvider({ codeAssistBaseUrl: "http://127.0.0.1:1/gemini" }).fetchUsage(
			params(),
			context(fetch, both, logger),
		);
		expect(new Set(agents.map((a) => a.split("/")[1]))).toEqual(new Set(["2.0.0"]));
		expect(warnings).toHaveLength(1);
	});

	it("calls loadCodeAssist then retrieveUserQuota with the discovered project and the CLI headers", async () => {
		const { fetch, calls } = stubFetch({
			"/v1internal:loadCodeAssist": () => json(loadCodeAssist),
			"/v1internal:retrieveUserQuota": () => json(retrieveUserQuota),
		});
		const provider = createGeminiUsageProvider({ codeAssistBaseUrl: "http://127.0.0.1:1/gemini/" });
		const report = await provider.fetchUsage(params(), context(fetch, { AUTHPOOL_GEMINI_CLI_VERSION: "9.9.9" }));

		expect(calls.map((call) => call.url)).toEqual([
			"http://127.0.0.1:1/gemini/v1internal:loadCodeAssist",
			"http://127.0.0.1:1/gemini/v1internal:retrieveUserQuota",
		]);
		expect(calls[0]?.body).toEqual({
			metadata: { ideType: "IDE_UNSPECIFIED", platform: "PLATFORM_UNSPECIFIED", pluginType: "GEMINI" },
		});
		expect(calls[1]?.body).toEqual({ project: "proud-lamp-a1b2c" });
		const headers = calls[1]?.init?.headers as Record<string, string>;
		expect(headers.Authorization).toBe("Bearer ya29.access-one");
		expect(headers["Content-Type"]).toBe("application/json");
		expect(headers["Client-Metadata"]).toBe("ideType=IDE_UNSPECIFIED,platform=PLATFORM_UNSPECIFIED,pluginType=GEMINI");
		expect(headers["User-Agent"]).toBe(
			`GeminiCLI/9.9.9/gemini-3.1-pro-preview (${process.platform}; ${process.arch}; terminal)`,
		);

		expect(report).toMatchObject({
			provider: PROVIDER,
			fetchedAt: NOW,
			metadata: { currentTierId: "free-tier", currentTierName: "Gemini Code Assist for individuals" },
			raw: retrieveUserQuota,
		});
		expect(report?.limits.map((limit) => limit.scope.projectId)).toEqual(["proud-lamp-a1b2c", "proud-lamp-a1b2c"]);
	});

	it("prefers the credential's projectId, sends it to loadCodeAssist, and honours params.baseUrl", async () => {
		const { fetch, calls } = stubFetch({
			"/v1internal:loadCodeAssist": () => json({ cloudaicompanionProject: { id: "other" } }),
			"/v1internal:retrieveUserQuota": () => json(retrieveUserQuota),
		});
		const provider = createGeminiUsageProvider({ codeAssistBaseUrl: "http://127.0.0.1:1/unused" });
		await provider.fetchUsage(
			params({ projectId: "mine-123" }, { baseUrl: "http://127.0.0.1:2/override/" }),
			context(fetch),
		);
		expect(calls[0]?.url).toBe("http://127.0.0.1:2/override/v1internal:loadCodeAssist");
		expect(calls[0]?.body).toMatchObject({ cloudaicompanionProject: "mine-123" });
		expect(calls[1]?.body).toEqual({ project: "mine-123" });
	});

	it("carries on when loadCodeAssist fails and asks for the quota without a project", async () => {
		const { fetch, calls } = stubFetch({
			"/v1internal:loadCodeAssist": () => json({ error: "boom" }, 500),
			"/v1internal:retrieveUserQuota": () => json(retrieveUserQuota),
		});
		const report = await createGeminiUsageProvider().fetchUsage(params(), context(fetch));
		expect(calls[0]?.url).toBe("https://cloudcode-pa.googleapis.com/v1internal:loadCodeAssist");
		expect(calls[1]?.body).toEqual({});
		expect(report?.limits).toHaveLength(2);
		expect(report?.metadata).toEqual({});
	});

	it("returns null on a non-2xx quota answer or a network error, without retrying", async () => {
		const failing = stubFetch({
			"/v1internal:loadCodeAssist": () => json(loadCodeAssist),
			"/v1internal:retrieveUserQuota": () => json({ error: "denied" }, 403),
		});
		expect(await createGeminiUsageProvider().fetchUsage(params(), context(failing.fetch))).toBeNull();
		expect(failing.calls).toHaveLength(2);

		const broken: FetchLike = async () => {
			throw new TypeError("fetch failed");
		};
		expect(await createGeminiUsageProvider().fetchUsage(params(), context(broken))).toBeNull();
	});

	it("sends nothing for an expired token or a credential without an access token", async () => {
		const { fetch, calls } = stubFetch({});
		const provider = createGeminiUsageProvider();
		expect(await provider.fetchUsage(params({ expiresAt: NOW }), context(fetch))).toBeNull();
		expect(await provider.fetchUsage(params({ accessToken: undefined }), context(fetch))).toBeNull();
		expect(calls).toHaveLength(0);
		expect(provider.supports?.(params({ accessToken: undefined }))).toBe(false);
		expect(provider.supports?.({ provider: "anything", credential: { type: "oauth", accessToken: "x" } })).toBe(true);
		expect(provider.supports?.({ provider: PROVIDER, credential: { type: "api_key", apiKey: "x" } })).toBe(false);
	});

	it("stops with an abort error when the caller's signal aborts", async () => {
		const controller = new AbortController();
		const hanging: FetchLike = (_input, init) =>
			new Promise((_resolve, reject) => {
				init?.signal?.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")));
			});
		const pending = createGeminiUsageProvider().fetchUsage(params({}, { signal: controller.signal }), context(hanging));
		controller.abort();
		const error = await pending.catch((e: unknown) => e);
		expect(AuthpoolError.isInstance(error) && error.code).toBe("ABORTED");
	});
});
