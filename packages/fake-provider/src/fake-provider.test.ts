import { afterEach, describe, expect, it } from "vitest";
import { startFakeProvider } from "./fake-provider";
import { createManualClock as testClock } from "./manual-clock";
import type { FakeProvider } from "./types";

let fake: FakeProvider | undefined;
afterEach(async () => {
	await fake?.close();
	fake = undefined;
});

async function start(options?: Parameters<typeof startFakeProvider>[0]) {
	fake = await startFakeProvider(options);
	return fake;
}

const refreshBody = (refresh: string) =>
	JSON.stringify({ grant_type: "refresh_token", refresh_token: refresh, client_id: "test" });

describe("server", () => {
	it("listens on loopback with a random port and prefixes every provider", async () => {
		const f = await start();
		expect(f.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
		expect(f.url).not.toMatch(/:0$/);
		expect(f.baseUrl("anthropic")).toBe(`${f.url}/anthropic`);
		expect(f.baseUrl("openai-codex")).toBe(`${f.url}/openai-codex`);
	});

	it("refuses a non-loopback host", async () => {
		await expect(startFakeProvider({ host: "0.0.0.0" })).rejects.toThrow(/loopback/);
	});

	it("answers unknown paths and providers with 404 JSON and survives malformed input", async () => {
		const f = await start();
		const unknownProvider = await fetch(`${f.url}/nope/v1/oauth/token`, { method: "POST" });
		expect(unknownProvider.status).toBe(404);
		expect(await unknownProvider.json()).toMatchObject({ error: { type: "not_found" } });
		const unknownPath = await fetch(`${f.baseUrl("anthropic")}/v1/nothing`);
		expect(unknownPath.status).toBe(404);
		const malformed = await fetch(`${f.baseUrl("anthropic")}/v1/oauth/token`, {
			method: "POST",
			headers: { "content-type": "application/json" },
			body: "{not json",
		});
		expect(malformed.status).toBe(400);
		expect(await malformed.json()).toMatchObject({ error: "invalid_request" });
		const wrongMethod = await fetch(`${f.baseUrl("anthropic")}/v1/oauth/token`);
		expect(wrongMethod.status).toBe(405);
		const weird = await fetch(`${f.url}/%E0%A4%A/x`);
		expect(weird.status).toBe(404);
		// still alive
		expect((await fetch(`${f.baseUrl("anthropic")}/api/oauth/usage`)).status).toBe(401);
	});

	it("records every request with lower-cased headers, parsed body, fake-clock time and status", async () => {
		const clock = testClock();
		const f = await start({ now: clock.now });
		const account = f.addAccount("anthropic");
		clock.advance(1234);
		await fetch(`${f.baseUrl("anthropic")}/v1/oauth/token?x=1`, {
			method: "POST",
			headers: { "Content-Type": "application/json", "X-Custom": "Yes" },
			body: refreshBody(account.refreshToken),
		});
		await fetch(`${f.baseUrl("anthropic")}/api/oauth/usage`, {
			headers: { authorization: `Bearer ${account.accessToken}` },
		});
		expect(f.requests).toHaveLength(2);
		const [token, usage] = f.requests;
		expect(token).toMatchObject({
			provider: "anthropic",
			endpoint: "token",
			method: "POST",
			path: "/anthropic/v1/oauth/token?x=1",
			query: { x: "1" },
			at: clock.now(),
			status: 200,
			accountId: account.id,
			body: { grant_type: "refresh_token", client_id: "test" },
		});
		expect(token?.headers["x-custom"]).toBe("Yes");
		expect(usage).toMatchObject({ endpoint: "usage", method: "GET", status: 200, accountId: account.id });
		expect(f.count()).toBe(2);
		expect(f.count("anthropic")).toBe(2);
		expect(f.count("anthropic", "token")).toBe(1);
		expect(f.count("anthropic", "usage")).toBe(1);
		expect(f.count("openai-codex")).toBe(0);
	});

	it("parses form bodies too", async () => {
		const f = await start();
		const account = f.addAccount("openai-codex");
		const response = await fetch(`${f.baseUrl("openai-codex")}/oauth/token`, {
			method: "POST",
			headers: { "content-type": "application/x-www-form-urlencoded" },
			body: new URLSearchParams({ grant_type: "refresh_token", refresh_token: account.refreshToken }).toString(),
		});
		expect(response.status).toBe(200);
		expect(f.requests[0]?.body).toMatchObject({ grant_type: "refresh_token" });
	});

	it("reset() forgets accounts, requests and failures but keeps serving", async () => {
		const f = await start();
		const account = f.addAccount("anthropic");
		f.failNext("anthropic", "usage", { status: 503, times: 5 });
		await fetch(`${f.baseUrl("anthropic")}/api/oauth/usage`);
		f.reset();
		expect(f.requests).toHaveLength(0);
		expect(f.accounts()).toHaveLength(0);
		expect(f.account(account.id)).toBeUndefined();
		const again = f.addAccount("anthropic");
		const response = await fetch(`${f.baseUrl("anthropic")}/api/oauth/usage`, {
			headers: { authorization: `Bearer ${again.accessToken}` },
		});
		expect(response.status).toBe(200);
	});
});

describe("failure injection", () => {
	it("fails the next N matching requests with the given status and body, then recovers", async () => {
		const f = await start();
		const account = f.addAccount("anthropic");
		f.failNext("anthropic", "token", {
			status: 503,
			body: { error: "overloaded" },
			times: 2,
			headers: { "retry-after": "7" },
		});
		const call = () =>
			fetch(`${f.baseUrl("anthropic")}/v1/oauth/token`, {
				method: "POST",
				headers: { "content-type": "application/json" },
				body: refreshBody(account.refreshToken),
			});
		const first = await call();
		expect(first.status).toBe(503);
		expect(first.headers.get("retry-after")).toBe("7");
		expect(await first.json()).toEqual({ error: "overloaded" });
		expect((await call()).status).toBe(503);
		// Injected failures change no state: the refresh token is still the first one and still valid.
		expect(f.refreshCount(account.id)).toBe(0);
		expect((await call()).status).toBe(200);
		expect(f.refreshCount(account.id)).toBe(1);
		expect(f.count("anthropic", "token")).toBe(3);
	});

	it("only matches its provider and endpoint; '*' matches every endpoint", async () => {
		const f = await start();
		const a = f.addAccount("anthropic");
		f.failNext("openai-codex", "usage", { status: 500 });
		f.failNext("anthropic", "*", { status: 502, body: "bad gateway" });
		const usage = await fetch(`${f.baseUrl("anthropic")}/api/oauth/profile`, {
			headers: { authorization: `Bearer ${a.accessToken}` },
		});
		expect(usage.status).toBe(502);
		expect(await usage.text()).toBe("bad gateway");
		const next = await fetch(`${f.baseUrl("anthropic")}/api/oauth/profile`, {
			headers: { authorization: `Bearer ${a.accessToken}` },
		});
		expect(next.status).toBe(200);
	});

	it("hang never answers, and close() destroys the hanging request without leaking", async () => {
		const f = await start();
		f.addAccount("anthropic");
		f.failNext("anthropic", "token", { hang: true });
		const pending = fetch(`${f.baseUrl("anthropic")}/v1/oauth/token`, { method: "POST", body: "{}" }).then(
			(r) => r.status,
			(e: unknown) => e,
		);
		const raced = await Promise.race([pending, new Promise((r) => setTimeout(() => r("still hanging"), 50))]);
		expect(raced).toBe("still hanging");
		expect(f.requests[0]?.status).toBeUndefined();
		await f.close();
		expect(await pending).toBeInstanceOf(Error);
		fake = undefined;
	});

	it("hang lets an aborting client time out", async () => {
		const f = await start();
		f.failNext("anthropic", "usage", { hang: true });
		const started = fetch(`${f.baseUrl("anthropic")}/api/oauth/usage`, { signal: AbortSignal.timeout(30) });
		await expect(started).rejects.toThrow();
	});

	it("destroy simulates a network error", async () => {
		const f = await start();
		f.failNext("kimi-code", "usage", { destroy: true });
		await expect(fetch(`${f.baseUrl("kimi-code")}/coding/v1/usages`)).rejects.toThrow(/fetch failed/);
		expect(f.count("kimi-code", "usage")).toBe(1);
	});

	it("delayMs and latency delay the answer", async () => {
		const f = await start();
		f.setLatency(40, { provider: "anthropic", endpoint: "usage" });
		f.failNext("anthropic", "usage", { status: 500, delayMs: 40 });
		const outcome = await Promise.race([
			fetch(`${f.baseUrl("anthropic")}/api/oauth/usage`).then((r) => r.status),
			new Promise((r) => setTimeout(() => r("not yet"), 10)),
		]);
		expect(outcome).toBe("not yet");
		// Other endpoints are not delayed.
		const profile = await fetch(`${f.baseUrl("anthropic")}/api/oauth/profile`);
		expect(profile.status).toBe(401);
	});

	it("validates failNext arguments", async () => {
		const f = await start();
		expect(() => f.failNext("anthropic", "token", { status: 42 })).toThrow(/status/);
		expect(() => f.failNext("anthropic", "token", { times: 0 })).toThrow(/times/);
	});
});

describe("close()", () => {
	it("is idempotent and frees the port", async () => {
		const f = await start();
		const port = Number(new URL(f.url).port);
		await f.close();
		await f.close();
		fake = undefined;
		const again = await startFakeProvider({ port });
		expect(again.url).toBe(f.url);
		await again.close();
	});

	it("closes keep-alive connections left by earlier requests", async () => {
		const f = await start();
		const a = f.addAccount("zai");
		for (let i = 0; i < 3; i++) {
			await fetch(`${f.baseUrl("zai")}/api/monitor/usage/quota/limit`, { headers: { authorization: a.apiKey ?? "" } });
		}
		await expect(f.close()).resolves.toBeUndefined();
		fake = undefined;
	});
});

describe("robustness", () => {
	it("exactly one of many concurrent refreshes with the same token wins", async () => {
		const f = await start();
		const account = f.addAccount("anthropic");
		const original = account.refreshToken;
		const statuses = await Promise.all(
			Array.from({ length: 20 }, () =>
				fetch(`${f.baseUrl("anthropic")}/v1/oauth/token`, {
					method: "POST",
					headers: { "content-type": "application/json" },
					body: refreshBody(original),
				}).then((r) => r.status),
			),
		);
		expect(statuses.filter((s) => s === 200)).toHaveLength(1);
		expect(statuses.filter((s) => s === 400)).toHaveLength(19);
		expect(f.refreshCount(account.id)).toBe(1);
	});

	it("garbage bodies and headers on every route never produce a 5xx", async () => {
		const f = await start();
		const routes: Array<[string, string, string]> = [
			["anthropic", "POST", "/v1/oauth/token"],
			["anthropic", "GET", "/api/oauth/usage"],
			["openai-codex", "POST", "/oauth/token"],
			["openai-codex", "POST", "/backend-api/wham/rate-limit-reset-credits/consume"],
			["google-gemini-cli", "POST", "/v1internal:retrieveUserQuota"],
			["google-antigravity", "POST", "/v1internal:fetchAvailableModels"],
			["github-copilot", "POST", "/login/oauth/access_token"],
			["github-copilot", "GET", "/users/%ZZ/settings/billing/premium_request/usage"],
			["kimi-code", "POST", "/api/oauth/token"],
			["kimi-code", "POST", "/api/oauth/device_authorization"],
			["zai", "GET", "/api/monitor/usage/quota/limit"],
			["ollama", "POST", "/inference"],
		];
		const bodies = ["null", "[]", '"text"', "42", '{"grant_type":5,"refresh_token":[]}', "a=b&&=", "\u0000\u0001"];
		const accounts = Object.fromEntries(routes.map(([p]) => [p, f.addAccount(p)]));
		for (const [provider, method, path] of routes) {
			for (const body of bodies) {
				for (const authorization of ["", "Bearer", "Bearer  ", `Bearer ${accounts[provider]?.accessToken}`]) {
					const headers: Record<string, string> = { "content-type": "application/json" };
					if (authorization) headers.authorization = authorization;
					const response = await fetch(`${f.baseUrl(provider)}${path}`, {
						method,
						headers,
						body: method === "GET" ? undefined : body,
					});
					expect(response.status, `${provider} ${method} ${path} ${body}`).toBeLessThan(500);
					await response.arrayBuffer();
				}
			}
		}
		const account = f.addAccount("anthropic");
		const alive = await fetch(`${f.baseUrl("anthropic")}/api/oauth/usage`, {
			headers: { authorization: `Bearer ${account.accessToken}` },
		});
		expect(alive.status).toBe(200);
	});
});
