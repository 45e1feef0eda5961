import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { OAuthRefreshError, type PluginContext, silentLogger } from "@authpool/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import fixture from "./__fixtures__/usage.json";
import { createAcmePlugin, parseAcmeUsage } from "./template-plugin";

const NOW = 1_782_820_000_000;

describe("parseAcmeUsage (fixture → exact limits)", () => {
	it("maps each window", () => {
		expect(parseAcmeUsage(fixture)).toEqual([
			{
				id: "acme:daily",
				label: "Acme daily",
				scope: { provider: "acme", windowId: "daily", shared: true },
				window: { id: "daily", label: "daily", durationMs: 86_400_000, resetsAt: 1_782_864_000_000 },
				amount: { used: 40, limit: 100, remaining: 60, usedFraction: 0.4, remainingFraction: 0.6, unit: "percent" },
				status: "ok",
			},
		]);
	});
});

describe("acme plugin against a local server", () => {
	let server: Server;
	let base: string;
	const issued = new Set(["rt-1"]);
	beforeAll(async () => {
		server = createServer((req, res) => {
			let body = "";
			req.on("data", (c) => {
				body += c;
			});
			req.on("end", () => {
				res.setHeader("content-type", "application/json");
				if (req.url === "/oauth/token") {
					const refresh = new URLSearchParams(body).get("refresh_token") ?? "";
					if (!issued.delete(refresh)) {
						res.statusCode = 400;
						return res.end(JSON.stringify({ error: "invalid_grant" }));
					}
					issued.add(`${refresh}+`);
					return res.end(JSON.stringify({ access_token: "at-new", refresh_token: `${refresh}+`, expires_in: 600 }));
				}
				if (req.url === "/v1/usage" && req.headers.authorization === "Bearer at-new")
					return res.end(JSON.stringify(fixture));
				res.statusCode = 401;
				res.end("{}");
			});
		});
		await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
		base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
	});
	afterAll(() => new Promise<void>((r) => server.close(() => r())));

	const ctx = (): PluginContext => ({
		fetch,
		clock: { now: () => NOW },
		logger: silentLogger,
		env: {},
		signal: new AbortController().signal,
	});

	it("refreshes, rotates, and reports a reused refresh token as definitive", async () => {
		const plugin = createAcmePlugin({ endpoints: { tokenUrl: `${base}/oauth/token`, apiBaseUrl: base } });
		const cred = { type: "oauth" as const, access: "old", refresh: "rt-1", expires: NOW };
		const next = await plugin.oauth!.refresh(cred, ctx());
		expect(next).toEqual({ access: "at-new", refresh: "rt-1+", expires: NOW + 600_000 });
		const reused = await plugin.oauth!.refresh(cred, ctx()).catch((e: unknown) => e);
		expect(OAuthRefreshError.isInstance(reused) && reused.definitive).toBe(true);
		const report = await plugin.usage!.fetchUsage(
			{ provider: "acme", credential: { type: "oauth", accessToken: next.access } },
			{ ...ctx() },
		);
		expect(report?.limits[0]?.id).toBe("acme:daily");
		expect(report?.metadata).toEqual({ planType: "team" });
	});
});
