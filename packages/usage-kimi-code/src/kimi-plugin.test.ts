import { createServer, type IncomingHttpHeaders, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { OAuthRefreshError, type PluginContext, silentLogger, type UsageFetchContext } from "@authpool/core";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import fixture from "./__fixtures__/usages.json";
import { createKimiPlugin, KIMI_CLIENT_ID } from "./kimi-plugin";
import { parseKimiUsage } from "./kimi-usage";

const NOW = Date.parse("2026-06-30T12:00:00Z");

describe("parseKimiUsage", () => {
	it("maps the reference payload to the exact limits", () => {
		const limits = parseKimiUsage(fixture, NOW, "acct-1");
		expect(limits).toEqual([
			{
				id: "kimi-code:0",
				label: "Total quota",
				scope: { provider: "kimi-code", accountId: "acct-1", windowId: "default", shared: true },
				window: { id: "default", label: "Usage window", resetsAt: Date.parse("2026-07-06T16:00:00Z") },
				amount: {
					used: 312,
					limit: 2048,
					remaining: 1736,
					usedFraction: 312 / 2048,
					remainingFraction: 1 - 312 / 2048,
					unit: "unknown",
				},
				status: "ok",
			},
			{
				id: "kimi-code:1",
				label: "5h limit",
				scope: { provider: "kimi-code", accountId: "acct-1", windowId: "300time_unit_minute", shared: true },
				window: {
					id: "300time_unit_minute",
					label: "5h limit",
					durationMs: 5 * 3_600_000,
					resetsAt: Date.parse("2026-06-30T15:00:00Z"),
				},
				amount: { used: 12, limit: 200, remaining: 188, usedFraction: 0.06, remainingFraction: 0.94, unit: "unknown" },
				status: "ok",
			},
		]);
	});

	it("labels rows by name, duration unit or position, and reads relative resets", () => {
		const limits = parseKimiUsage(
			{
				limits: [
					{
						name: "Weekly",
						detail: { limit: 10, used: 10 },
						window: { duration: 7, timeUnit: "TIME_UNIT_DAY", reset_in: 60 },
					},
					{ detail: { limit: 5, used: 1 }, window: { duration: 90, timeUnit: "TIME_UNIT_MINUTE" } },
					{ detail: { limit: 5, remaining: 5 } },
				],
			},
			NOW,
		);
		expect(limits.map((l) => l.label)).toEqual(["Weekly", "90m limit", "Limit #3"]);
		expect(limits[0]!.status).toBe("exhausted");
		expect(limits[0]!.window?.resetsAt).toBe(NOW + 60_000);
		expect(limits[0]!.window?.durationMs).toBe(7 * 86_400_000);
		expect(limits[2]!.amount.used).toBe(0);
		expect(limits[2]!.window).toBeUndefined();
	});

	it("gives unknown status without a limit, and nothing for junk", () => {
		const [limit] = parseKimiUsage({ usage: { used: 3 } }, NOW);
		expect(limit!.status).toBe("unknown");
		expect(parseKimiUsage({ usage: "x" }, NOW)).toEqual([]);
		expect(parseKimiUsage(null, NOW)).toEqual([]);
	});
});

describe("kimi-code over HTTP", () => {
	let server: Server;
	let base: string;
	const requests: { url: string; headers: IncomingHttpHeaders; body: string }[] = [];
	let tokenReply: { status: number; body: unknown } = { status: 200, body: {} };

	beforeAll(async () => {
		server = createServer((req, res) => {
			let body = "";
			req.on("data", (chunk) => {
				body += chunk;
			});
			req.on("end", () => {
				requests.push({ url: req.url ?? "", headers: req.headers, body });
				res.setHeader("content-type", "application/json");
				if (req.url === "/coding/v1/usages") {
					res.statusCode = req.headers.authorization === "Bearer at-1" ? 200 : 401;
					return res.end(JSON.stringify(fixture));
				}
				if (req.url === "/api/oauth/token") {
					res.statusCode = tokenReply.status;
					return res.end(JSON.stringify(tokenReply.body));
				}
				res.statusCode = 404;
				res.end("{}");
			});
		});
		await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
		base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
	});
	afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));
	beforeEach(() => {
		requests.length = 0;
	});

	const usageCtx = (env: Record<string, string> = {}): UsageFetchContext => ({
		fetch,
		clock: { now: () => NOW },
		logger: silentLogger,
		env,
	});
	const pluginCtx = (env: Record<string, string> = {}): PluginContext => ({
		...usageCtx(env),
		signal: new AbortController().signal,
	});

	it("fetches usage with the Kimi headers, honouring KIMI_CODE_BASE_URL", async () => {
		const plugin = createKimiPlugin({ deviceId: "0123456789abcdef0123456789abcdef", clientVersion: "9.9.9" });
		const report = await plugin.usage!.fetchUsage(
			{ provider: "kimi-code", credential: { type: "oauth", accessToken: "at-1", expiresAt: NOW + 60_000 } },
			usageCtx({ KIMI_CODE_BASE_URL: `${base}/coding/v1` }),
		);
		expect(report?.limits.map((l) => l.id)).toEqual(["kimi-code:0", "kimi-code:1"]);
		expect(report?.metadata).toEqual({ endpoint: `${base}/coding/v1` });
		const headers = requests[0]!.headers;
		expect(headers["user-agent"]).toBe("KimiCLI/9.9.9");
		expect(headers["x-msh-platform"]).toBe("kimi_cli");
		expect(headers["x-msh-device-id"]).toBe("0123456789abcdef0123456789abcdef");
	});

	it("skips an expired token without a request and returns null on 401", async () => {
		const plugin = createKimiPlugin({ endpoints: { usageBaseUrl: `${base}/coding/v1` } });
		const expired = await plugin.usage!.fetchUsage(
			{ provider: "kimi-code", credential: { type: "oauth", accessToken: "at-1", expiresAt: NOW } },
			usageCtx(),
		);
		expect(expired).toBeNull();
		expect(requests).toHaveLength(0);
		const unauthorized = await plugin.usage!.fetchUsage(
			{ provider: "kimi-code", credential: { type: "oauth", accessToken: "wrong", expiresAt: NOW + 60_000 } },
			usageCtx(),
		);
		expect(unauthorized).toBeNull();
	});

	it("refreshes with a form body, keeping the old refresh token when none is returned", async () => {
		const plugin = createKimiPlugin({ endpoints: { oauthHost: base } });
		tokenReply = { status: 200, body: { access_token: "at-2", expires_in: 3600 } };
		const result = await plugin.oauth!.refresh(
			{ type: "oauth", access: "at-1", refresh: "rt-1", expires: NOW },
			pluginCtx(),
		);
		expect(result).toEqual({ access: "at-2", refresh: "rt-1", expires: NOW + 3_600_000 - 300_000 });
		const sent = new URLSearchParams(requests[0]!.body);
		expect(Object.fromEntries(sent)).toEqual({
			grant_type: "refresh_token",
			refresh_token: "rt-1",
			client_id: KIMI_CLIENT_ID,
		});
		tokenReply = { status: 200, body: { access_token: "at-3", refresh_token: "rt-2", expires_in: 60 } };
		const rotated = await plugin.oauth!.refresh(
			{ type: "oauth", access: "at-2", refresh: "rt-1", expires: NOW },
			pluginCtx(),
		);
		expect(rotated.refresh).toBe("rt-2");
	});

	it("classifies invalid_grant as definitive and a 503 as transient, without token bytes in messages", async () => {
		const plugin = createKimiPlugin({ endpoints: { oauthHost: "http://127.0.0.1:1" } });
		tokenReply = { status: 400, body: { error: "invalid_grant" } };
		const dead = await plugin
			.oauth!.refresh(
				{ type: "oauth", access: "at-1", refresh: "rt-secret-1", expires: NOW },
				pluginCtx({ KIMI_OAUTH_HOST: base }),
			)
			.catch((e: unknown) => e);
		expect(OAuthRefreshError.isInstance(dead) && dead.definitive).toBe(true);
		expect(String((dead as Error).message)).not.toContain("rt-secret-1");
		tokenReply = { status: 503, body: { error: "unavailable" } };
		const blip = await plugin
			.oauth!.refresh(
				{ type: "oauth", access: "at-1", refresh: "rt-secret-1", expires: NOW },
				pluginCtx({ KIMI_CODE_OAUTH_HOST: base }),
			)
			.catch((e: unknown) => e);
		expect(OAuthRefreshError.isInstance(blip) && blip.definitive).toBe(false);
	});

	it("rejects malformed options", () => {
		expect(() => createKimiPlugin({ deviceId: "nope" })).toThrow(/Invalid kimi-code plugin options/);
	});
});
