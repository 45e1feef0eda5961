import {
	AuthpoolError,
	type FetchLike,
	silentLogger,
	type UsageFetchContext,
	type UsageFetchParams,
} from "@authpool/core";
import { describe, expect, it } from "vitest";
import example from "./__fixtures__/fetch-available-models.json";
import keyFamilies from "./__fixtures__/fetch-available-models-key-families.json";
import { createAntigravityUsageProvider, parseAntigravityModels } from "./antigravity-usage-provider";

const NOW = Date.parse("2026-06-30T12:00:00Z");
const DAY = 86_400_000;
const WEEK = 7 * DAY;
const PROVIDER = "google-antigravity";
const at = (iso: string) => Date.parse(iso);

function percent(remaining: number) {
	return {
		used: (1 - remaining) * 100,
		limit: 100,
		remaining: remaining * 100,
		usedFraction: 1 - remaining,
		remainingFraction: remaining,
		unit: "percent",
	};
}

describe("parseAntigravityModels", () => {
	it("maps the recorded example: counters deduped, a fraction-less entry is exhausted, sorted by pressure", () => {
		const limits = parseAntigravityModels(
			example,
			{ provider: PROVIDER, projectId: "proj-1", accountId: "acct-1" },
			NOW,
		);
		const scope = (windowId: string) => ({ provider: PROVIDER, accountId: "acct-1", projectId: "proj-1", windowId });
		expect(limits).toEqual([
			{
				id: "google-antigravity:google:default:daily",
				label: "Usage (Google)",
				scope: scope("daily"),
				window: { id: "daily", label: "Daily", durationMs: DAY, resetsAt: at("2026-07-01T00:00:00Z") },
				amount: percent(0),
				status: "exhausted",
			},
			{
				id: "google-antigravity:anthropic:default:weekly",
				label: "Usage (Anthropic)",
				scope: scope("weekly"),
				window: { id: "weekly", label: "Weekly", durationMs: WEEK, resetsAt: at("2026-07-06T00:00:00Z") },
				amount: percent(0.8),
				status: "ok",
			},
			{
				id: "google-antigravity:anthropic:default:daily",
				label: "Usage (Anthropic)",
				scope: scope("daily"),
				window: { id: "daily", label: "Daily", durationMs: DAY, resetsAt: at("2026-06-30T20:00:00Z") },
				amount: percent(1),
				status: "ok",
			},
		]);
	});

	it("reads every quota key family and classifies windows by id, label and reset grouping", () => {
		const limits = parseAntigravityModels(keyFamilies, { projectId: "proj-1" }, NOW);
		expect(limits.map((limit) => [limit.id, limit.amount.remainingFraction, limit.status])).toEqual([
			["google-antigravity:openai:default:daily", 0.05, "warning"],
			["google-antigravity:default:default:daily", 0.3, "ok"],
			["google-antigravity:google:pro:weekly", 0.5, "ok"],
			["google-antigravity:anthropic:default:daily", 0.6, "ok"],
			["google-antigravity:google:default:weekly", 0.7, "ok"],
			["google-antigravity:anthropic:default:weekly", 0.9, "ok"],
			["google-antigravity:google:default:burst", 0.95, "ok"],
		]);
		const byId = new Map(limits.map((limit) => [limit.id, limit]));
		// Two un-windowed entries of one group: the later reset is the weekly one, the other daily.
		expect(byId.get("google-antigravity:anthropic:default:weekly")?.window?.resetsAt).toBe(at("2026-07-04T00:00:00Z"));
		expect(byId.get("google-antigravity:anthropic:default:daily")?.window?.resetsAt).toBe(at("2026-06-30T18:00:00Z"));
		// A lone un-windowed entry resetting more than a day out is weekly; the map key is the tier.
		expect(byId.get("google-antigravity:google:pro:weekly")?.scope.tier).toBe("PRO");
		expect(byId.get("google-antigravity:google:default:weekly")?.window).toEqual({
			id: "weekly",
			label: "Weekly",
			durationMs: WEEK,
			resetsAt: at("2026-07-06T00:00:00Z"),
		});
		// An unclassifiable explicit window keeps its id, without a duration.
		expect(byId.get("google-antigravity:google:default:burst")?.window).toEqual({ id: "burst", label: "burst" });
		// No provider → default counter, plain label; no reset → daily without resetsAt.
		const mystery = byId.get("google-antigravity:default:default:daily");
		expect(mystery?.label).toBe("Usage");
		expect(mystery?.window).toEqual({ id: "daily", label: "Daily", durationMs: DAY });
	});

	it("keeps the lower remaining fraction and a window with a reset time when entries collide", () => {
		const limits = parseAntigravityModels(
			{
				models: {
					a: { modelProvider: "MODEL_PROVIDER_GOOGLE", dailyQuotaInfo: { remainingFraction: 0.9 } },
					b: {
						modelProvider: "MODEL_PROVIDER_GOOGLE",
						dailyQuotaInfo: { remainingFraction: 0.95, resetTime: "2026-07-01T00:00:00Z" },
					},
					c: { modelProvider: "MODEL_PROVIDER_GOOGLE", dailyQuotaInfo: { remainingFraction: 0.2 } },
					d: { modelProvider: "MODEL_PROVIDER_GOOGLE", dailyQuotaInfo: {} },
				},
			},
			{ projectId: "p" },
			NOW,
		);
		expect(limits).toHaveLength(1);
		expect(limits[0]?.amount.remainingFraction).toBe(0.2);
		expect(limits[0]?.window?.resetsAt).toBe(at("2026-07-01T00:00:00Z"));
	});

	it("marks an entry with neither fraction nor reset as unknown", () => {
		const limits = parseAntigravityModels({ models: { m: { quotaInfo: {} } } }, { projectId: "p" }, NOW);
		expect(limits[0]).toMatchObject({ amount: { unit: "percent" }, status: "unknown" });
		expect(parseAntigravityModels("garbage", {}, NOW)).toEqual([]);
	});
});

function json(body: unknown, status = 200): Response {
	return new Response(JSON.stringify(body), { status, headers: { "content-type": "application/json" } });
}

function scripted(answers: Array<(url: string) => Response | Promise<Response>>): { fetch: FetchLike; urls: string[] } {
	const urls: string[] = [];
	const fetch: FetchLike = async (input) => {
		const url = String(input);
		urls.push(url);
		const answer = answers[urls.length - 1];
		if (!answer) throw new Error("unexpected call");
		return answer(url);
	};
	return { fetch, urls };
}

function context(
	fetch: FetchLike,
	env: Record<string, string | undefined> = {},
	logger: UsageFetchContext["logger"] = silentLogger,
): UsageFetchContext {
	return { fetch, clock: { now: () => NOW }, logger, env };
}

function recordingLogger(): { logger: UsageFetchContext["logger"]; warnings: string[] } {
	const warnings: string[] = [];
	return { logger: { ...silentLogger, warn: (message: string) => warnings.push(message) }, warnings };
}

function params(credential: Partial<UsageFetchParams["credential"]> = {}, extra: Partial<UsageFetchParams> = {}) {
	return {
		provider: PROVIDER,
		credential: {
			type: "oauth" as const,
			accessToken: "ya29.ag-access",
			expiresAt: NOW + 3_600_000,
			projectId: "proj-1",
			email: "a@example.com",
			...credential,
		},
		...extra,
	};
}

const ENDPOINTS = ["http://127.0.0.1:1/a", "http://127.0.0.1:1/b/"];

describe("createAntigravityUsageProvider().fetchUsage", () => {
	it("moves to the next endpoint on a transient status and reports the one that answered", async () => {
		const { fetch, urls } = scripted([() => json({}, 503), () => json(example)]);
		const provider = createAntigravityUsageProvider({ endpoints: ENDPOINTS, version: "3.0.0" });
		const report = await provider.fetchUsage(params(), context(fetch));
		expect(urls).toEqual([
			"http://127.0.0.1:1/a/v1internal:fetchAvailableModels",
			"http://127.0.0.1:1/b/v1internal:fetchAvailableModels",
		]);
		expect(report).toMatchObject({
			provider: PROVIDER,
			fetchedAt: NOW,
			metadata: { endpoint: "http://127.0.0.1:1/b", projectId: "proj-1", email: "a@example.com" },
			raw: example,
		});
		expect(report?.limits).toHaveLength(3);
	});

	it("sends the project, the bearer and the Antigravity user agent", async () => {
		let seen: RequestInit | undefined;
		const fetch: FetchLike = async (_input, init) => {
			seen = init;
			return json(example);
		};
		await createAntigravityUsageProvider({ endpoints: ENDPOINTS, version: "3.0.0" }).fetchUsage(
			params(),
			context(fetch),
		);
		expect(JSON.parse(String(seen?.body))).toEqual({ project: "proj-1" });
		const headers = seen?.headers as Record<string, string>;
		expect(headers.Authorization).toBe("Bearer ya29.ag-access");
		expect(headers["User-Agent"]).toMatch(/^antigravity\/hub\/3\.0\.0 \S+\/\S+$/);
		expect(headers["User-Agent"]).not.toContain("x64");
	});

	it("reads the version from AUTHPOOL_ANTIGRAVITY_VERSION without a warning", async () => {
		const agents: string[] = [];
		const fetch: FetchLike = async (_input, init) => {
			agents.push((init?.headers as Record<string, string> | undefined)?.["User-Agent"] ?? "");
			return json(example);
		};
		const { logger, warnings } = recordingLogger();
		const env = { AUTHPOOL_ANTIGRAVITY_VERSION: "4.0.0", PI_AI_ANTIGRAVITY_VERSION: "1.0.0" };
		await createAntigravityUsageProvider({ endpoints: ENDPOINTS }).fetchUsage(params(), context(fetch, env, logger));
		expect(agents[0]).toMatch(/^antigravity\/hub\/4\.0\.0 /);
		expect(warnings).toEqual([]);
	});

	it("still reads the legacy PI_AI_ANTIGRAVITY_VERSION, warning once per provider", async () => {
		const agents: string[] = [];
		const fetch: FetchLike = async (_input, init) => {
			agents.push((init?.headers as Record<string, string> | undefined)?.["User-Agent"] ?? "");
			return json(example);
		};
		const { logger, warnings } = recordingLogger();
		const provider = createAntigravityUsageProvider({ endpoints: ENDPOINTS });
		const env = { PI_AI_ANTIGRAVITY_VERSION: "1.2.3" };
		await provider.fetchUsage(params(), context(fetch, env, logger));
		await provider.fetchUsage(params(), context(fetch, env, logger));
		expect(agents.map((a) => a.split(" ")[0])).toEqual(["antigravity/hub/1.2.3", "antigravity/hub/1.2.3"]);
		expect(warnings).toEqual(["PI_AI_ANTIGRAVITY_VERSION is deprecated; set AUTHPOOL_ANTIGRAVITY_VERSION instead"]);
	});

	it("stops at a non-transient status and returns null", async () => {
		const { fetch, urls } = scripted([() => json({ error: "forbidden" }, 403)]);
		expect(
			await createAntigravityUsageProvider({ endpoints: ENDPOINTS }).fetchUsage(params(), context(fetch)),
		).toBeNull();
		expect(urls).toHaveLength(1);
	});

	it("moves on after a network error and returns null when the last endpoint also fails", async () => {
		const { fetch, urls } = scripted([
			() => {
				throw new TypeError("fetch failed");
			},
			() => {
				throw new TypeError("fetch failed");
			},
		]);
		expect(
			await createAntigravityUsageProvider({ endpoints: ENDPOINTS }).fetchUsage(params(), context(fetch)),
		).toBeNull();
		expect(urls).toHaveLength(2);
	});

	it("uses only params.baseUrl when given", async () => {
		const { fetch, urls } = scripted([() => json({}, 503)]);
		const report = await createAntigravityUsageProvider({ endpoints: ENDPOINTS }).fetchUsage(
			params({}, { baseUrl: "http://127.0.0.1:9/only//" }),
			context(fetch),
		);
		expect(report).toBeNull();
		expect(urls).toEqual(["http://127.0.0.1:9/only/v1internal:fetchAvailableModels"]);
	});

	it("sends nothing without a projectId, with an expired token, or for another provider", async () => {
		const { fetch, urls } = scripted([]);
		const provider = createAntigravityUsageProvider({ endpoints: ENDPOINTS });
		expect(await provider.fetchUsage(params({ projectId: undefined }), context(fetch))).toBeNull();
		expect(await provider.fetchUsage(params({ expiresAt: NOW - 1 }), context(fetch))).toBeNull();
		expect(await provider.fetchUsage({ ...params(), provider: "google-gemini-cli" }, context(fetch))).toBeNull();
		expect(urls).toHaveLength(0);
		expect(provider.supports?.(params())).toBe(true);
		expect(provider.cacheVersion).toBe(2);
	});

	it("throws an abort error when the caller's signal aborts mid-request", async () => {
		const controller = new AbortController();
		const fetch: FetchLike = (_input, init) =>
			new Promise((_resolve, reject) => {
				init?.signal?.addEventListener("abort", () => reject(new DOMException("aborted", "AbortError")));
			});
		const pending = createAntigravityUsageProvider({ endpoints: ENDPOINTS }).fetchUsage(
			params({}, { signal: controller.signal }),
			context(fetch),
		);
		controller.abort();
		const error = await pending.catch((e: unknown) => e);
		expect(AuthpoolError.isInstance(error) && error.code).toBe("ABORTED");
	});
});
