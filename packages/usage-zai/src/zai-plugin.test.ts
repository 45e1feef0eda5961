import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { silentLogger, type UsageFetchContext } from "@authpool/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fixture from "./__fixtures__/quota-limit.json";
import { createZaiPlugin, parseZaiLimits, zaiWindow } from "./zai-plugin";

const NOW = 1_782_820_000_000;

describe("parseZaiLimits", () => {
	it("maps the reference payload to the exact limits", () => {
		const limits = parseZaiLimits(fixture);
		expect(limits.map((l) => [l.id, l.label])).toEqual([
			["zai:tokens:5h", "ZAI 5 Hours Token Quota"],
			["zai:tokens:1w", "ZAI Weekly Token Quota"],
			["zai:requests:1mo", "ZAI Web Search / Reader / Zread Quota"],
		]);
		expect(limits[0]).toEqual({
			id: "zai:tokens:5h",
			label: "ZAI 5 Hours Token Quota",
			scope: { provider: "zai", windowId: "5h", shared: true },
			window: { id: "5h", label: "5 Hours", durationMs: 5 * 3_600_000, resetsAt: 1782838800000 },
			amount: { usedFraction: 0.12, remainingFraction: 0.88, unit: "tokens" },
			status: "ok",
		});
		expect(limits[2]!.amount).toEqual({
			used: 37,
			limit: 1000,
			remaining: 963,
			usedFraction: 0.03,
			remainingFraction: 0.97,
			unit: "requests",
		});
		expect(limits[2]!.window?.durationMs).toBe(30 * 86_400_000);
	});

	it("derives the fraction from used/limit without a percentage and converts second timestamps", () => {
		const [limit] = parseZaiLimits({
			data: {
				limits: [{ type: "TIME_LIMIT", unit: 4, number: 2, usage: 10, currentValue: 10, nextResetTime: 1782838800 }],
			},
		});
		expect(limit!.id).toBe("zai:requests:2d");
		expect(limit!.label).toBe("ZAI Request Quota");
		expect(limit!.amount.usedFraction).toBe(1);
		expect(limit!.status).toBe("exhausted");
		expect(limit!.window?.resetsAt).toBe(1782838800000);
	});

	it("names unknown unit codes and leaves status off without a fraction", () => {
		expect(zaiWindow(9, 2)).toEqual({ id: "2u9", label: "Quota" });
		expect(zaiWindow(undefined, undefined)).toEqual({ id: "quota", label: "Quota" });
		expect(zaiWindow(5, 3).label).toBe("3 Months");
		const [limit] = parseZaiLimits({ data: { limits: [{ type: "TOKENS_LIMIT", unit: 3, number: 1 }] } });
		expect(limit!.status).toBeUndefined();
		expect(parseZaiLimits({ data: {} })).toEqual([]);
		expect(parseZaiLimits("nope")).toEqual([]);
	});
});

describe("zai usage provider over HTTP", () => {
	let server: Server;
	let origin: string;
	const seen: IncomingMessage[] = [];
	let quotaStatus = 200;
	let quotaBody: unknown = fixture;

	beforeAll(async () => {
		server = createServer((req, res) => {
			seen.push(req);
			res.setHeader("content-type", "application/json");
			if (req.url?.startsWith("/api/monitor/usage/quota/limit")) {
				if (req.headers.authorization !== "zai-key-1") {
					res.statusCode = 401;
					return res.end(JSON.stringify({ success: false }));
				}
				res.statusCode = quotaStatus;
				return res.end(JSON.stringify(quotaBody));
			}
			if (req.url?.startsWith("/api/monitor/usage/model-usage")) {
				return res.end(JSON.stringify({ totalTokens: 1234 }));
			}
			res.statusCode = 404;
			res.end("{}");
		});
		await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
		origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
	});
	afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

	const ctx = (): UsageFetchContext => ({ fetch, clock: { now: () => NOW }, logger: silentLogger, env: {} });

	it("sends the raw key, reads limits and attaches model usage; only the origin of a base URL is used", async () => {
		seen.length = 0;
		const plugin = createZaiPlugin();
		const report = await plugin.usage!.fetchUsage(
			{
				provider: "zai",
				credential: { type: "api_key", apiKey: "zai-key-1" },
				baseUrl: `${origin}/api/coding/paas/v4`,
			},
			ctx(),
		);
		expect(report?.limits).toHaveLength(3);
		expect(report?.metadata).toMatchObject({ endpoint: origin, modelUsage: { totalTokens: 1234 } });
		expect(seen[0]!.headers.authorization).toBe("zai-key-1");
		expect(seen[0]!.headers["user-agent"]).toBe("OpenCode-Status-Plugin/1.0");
		expect(seen[1]!.url).toMatch(/startTime=\d{4}-\d\d-\d\d%2B\d\d%3A\d\d%3A\d\d&endTime=/);
	});

	it("returns null on a non-2xx answer, on success:false, and for OAuth credentials", async () => {
		const plugin = createZaiPlugin({ endpoints: { origin } });
		quotaStatus = 500;
		expect(
			await plugin.usage!.fetchUsage({ provider: "zai", credential: { type: "api_key", apiKey: "zai-key-1" } }, ctx()),
		).toBeNull();
		quotaStatus = 200;
		quotaBody = { success: false };
		expect(
			await plugin.usage!.fetchUsage({ provider: "zai", credential: { type: "api_key", apiKey: "zai-key-1" } }, ctx()),
		).toBeNull();
		quotaBody = fixture;
		expect(
			await plugin.usage!.fetchUsage({ provider: "zai", credential: { type: "oauth", accessToken: "a" } }, ctx()),
		).toBeNull();
	});

	it("returns null when the server is unreachable", async () => {
		const plugin = createZaiPlugin({ endpoints: { origin: "http://127.0.0.1:1" } });
		expect(
			await plugin.usage!.fetchUsage({ provider: "zai", credential: { type: "api_key", apiKey: "zai-key-1" } }, ctx()),
		).toBeNull();
	});
});

describe("createZaiPlugin", () => {
	it("rejects malformed options with INVALID_OPTIONS", () => {
		expect(() => createZaiPlugin({ endpoints: { origin: "not a url" } })).toThrow(/Invalid zai plugin options/);
	});
	it("reads ZAI_API_KEY", () => {
		expect(createZaiPlugin().envApiKeys).toEqual(["ZAI_API_KEY"]);
	});
});
