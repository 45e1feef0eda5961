import { AuthStorage, createMemoryStore } from "@authpool/core";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { hashAdminToken, parseAdminTokenHashes } from "./admin-auth";
import { startBrokerApp } from "./broker-app";
import { ADMIN_TOKEN, type Fixture, startFixture } from "./test-support";

const DATA_ROUTES: Array<[string, string]> = [
	["GET", "/api/session"],
	["GET", "/api/state"],
	["GET", "/api/events"],
	["GET", "/api/history"],
	["GET", "/api/stream"],
	["POST", "/api/usage/refresh"],
];

let fixture: Fixture;
beforeEach(async () => {
	fixture = await startFixture();
});
afterEach(async () => {
	await fixture.close();
});

const bearer = (token = ADMIN_TOKEN) => ({ authorization: `Bearer ${token}` });

async function getJson(path: string, headers: Record<string, string> = bearer()) {
	const response = await fetch(`${fixture.app.url}${path}`, { headers });
	return { status: response.status, type: response.headers.get("content-type"), text: await response.text() };
}

/** The first SSE frame of the stream, then the connection is dropped. */
async function firstStreamFrame(): Promise<string> {
	const controller = new AbortController();
	const response = await fetch(`${fixture.app.url}/api/stream`, { headers: bearer(), signal: controller.signal });
	expect(response.status).toBe(200);
	expect(response.headers.get("content-type")).toContain("text/event-stream");
	const reader = response.body?.getReader();
	let text = "";
	while (reader && !text.includes("\n\n", text.indexOf("data:"))) {
		const { value, done } = await reader.read();
		if (done) break;
		text += new TextDecoder().decode(value);
	}
	controller.abort();
	return text;
}

describe("admin authentication", () => {
	it("answers 401 JSON on every data route without a token, with a wrong one and with a malformed header", async () => {
		for (const [method, path] of DATA_ROUTES) {
			for (const headers of [
				{},
				bearer("test-wrong-token"),
				{ authorization: ADMIN_TOKEN },
				{ authorization: "Basic abc" },
			]) {
				const response = await fetch(`${fixture.app.url}${path}`, { method, headers });
				expect(response.status, `${method} ${path}`).toBe(401);
				const body = (await response.json()) as { error: string };
				expect(body.error).toMatch(/admin token/);
			}
		}
	});

	it("serves the data with the right token; the page and its assets are public", async () => {
		expect((await getJson("/api/session")).status).toBe(200);
		for (const path of ["/", "/assets/app.js", "/assets/app.css", "/assets/vendor/htm-preact.js"]) {
			const response = await fetch(`${fixture.app.url}${path}`);
			expect(response.status, path).toBe(200);
			expect(response.headers.get("content-security-policy")).toContain("script-src 'self'");
			await response.arrayBuffer();
		}
	});

	it("answers 404 JSON for unknown routes, authorized or not, and 405 for a wrong method", async () => {
		for (const path of ["/nope", "/api/nope", "/v1/snapshot", "/assets/../package.json", "/assets/vendor/"]) {
			const response = await getJson(path);
			expect(response.status, path).toBe(404);
			expect(response.type).toContain("application/json");
			expect(JSON.parse(response.text)).toEqual({ error: "not found" });
		}
		expect((await getJson("/api/nope", {})).status).toBe(401);
		const wrongMethod = await fetch(`${fixture.app.url}/api/state`, { method: "DELETE", headers: bearer() });
		expect(wrongMethod.status).toBe(405);
		expect(await wrongMethod.json()).toEqual({ error: "method not allowed" });
	});

	it("rejects bad query input with 400 JSON", async () => {
		for (const query of ["sinceMs=abc", "sinceMs=-5", "provider=Not%20A%20Provider"]) {
			const response = await getJson(`/api/history?${query}`);
			expect(response.status, query).toBe(400);
			expect(JSON.parse(response.text).error).toBeTypeOf("string");
		}
	});
});

describe("dashboard data", () => {
	it("lists accounts per provider with states, quota bars from real usage reports, and tombstones", async () => {
		const refreshed = await fetch(`${fixture.app.url}/api/usage/refresh`, { method: "POST", headers: bearer() });
		expect(refreshed.status).toBe(200);
		const state = (await refreshed.json()) as {
			providers: Array<{
				id: string;
				accounts: Array<Record<string, unknown> & { quotas: Array<Record<string, unknown>> }>;
			}>;
		};
		expect(state.providers.map((provider) => provider.id)).toEqual(["anthropic", "zai"]);
		const anthropic = state.providers[0]?.accounts ?? [];
		expect(anthropic.map((account) => [account.label, account.state])).toEqual([
			["alice@example.com", "active"],
			["bob@example.com", "active"],
			["carol@example.com", "disabled"],
		]);
		expect(anthropic[2]?.disabledCause).toBe("refresh token revoked");
		const aliceQuotas = anthropic[0]?.quotas ?? [];
		expect(aliceQuotas.length).toBeGreaterThanOrEqual(2);
		expect(aliceQuotas.map((quota) => quota.usedFraction)).toEqual(expect.arrayContaining([0.35, 0.62]));
		expect(aliceQuotas.some((quota) => typeof quota.resetsAt === "number")).toBe(true);
		expect((anthropic[1]?.quotas ?? []).map((quota) => quota.usedFraction)).toEqual(
			expect.arrayContaining([0.91, 0.2]),
		);
		const key = state.providers[1]?.accounts[0];
		expect(key).toMatchObject({ type: "api_key", label: expect.stringMatching(/^API key #\d+$/), state: "active" });
	});

	it("shows a block set through the storage, and records it in the event log", async () => {
		const session = "test-session-1";
		await fixture.storage.getApiKey("anthropic", session);
		await fixture.storage.markUsageLimitReached("anthropic", session, { retryAfterMs: 3_600_000 });
		const state = JSON.parse((await getJson("/api/state")).text) as {
			providers: Array<{ accounts: Array<{ state: string; blockedUntil?: number }> }>;
		};
		const blocked = state.providers
			.flatMap((provider) => provider.accounts)
			.filter((account) => account.state === "blocked");
		expect(blocked).toHaveLength(1);
		expect(blocked[0]?.blockedUntil).toBeGreaterThan(Date.now() + 30 * 60_000);
		await expect
			.poll(
				async () =>
					(JSON.parse((await getJson("/api/events")).text) as { events: Array<{ kind: string }> }).events.map(
						(e) => e.kind,
					),
				{ timeout: 10_000 },
			)
			.toContain("blocked");
	});

	it("plots history by row id and label, without account keys", async () => {
		const { points } = JSON.parse((await getJson("/api/history")).text) as {
			points: Array<Record<string, unknown>>;
		};
		expect(points.length).toBeGreaterThanOrEqual(5);
		expect(points.every((point) => !("accountKey" in point))).toBe(true);
		expect(points.filter((point) => point.account === "alice@example.com").length).toBeGreaterThanOrEqual(5);
		const times = points.map((point) => point.recordedAt as number);
		expect(times).toEqual([...times].sort((a, b) => a - b));
	});

	it("never sends token bytes: every response is scanned for every access token, refresh token and key", async () => {
		await fetch(`${fixture.app.url}/api/usage/refresh`, { method: "POST", headers: bearer() });
		await fixture.storage.refreshCredentialById(fixture.storage.listStoredCredentials("anthropic")[0]?.id ?? -1);
		await fixture.storage.getApiKey("anthropic", "test-session-2");
		await fixture.storage.markUsageLimitReached("anthropic", "test-session-2");
		const bodies = [
			(await getJson("/api/session")).text,
			(await getJson("/api/state")).text,
			(await getJson("/api/events")).text,
			(await getJson("/api/history")).text,
			(await getJson("/api/history?provider=anthropic&sinceMs=0")).text,
			(await getJson("/nope")).text,
			(await getJson("/api/state", {})).text,
			await firstStreamFrame(),
		];
		const secrets = fixture.secrets();
		expect(secrets.length).toBeGreaterThanOrEqual(7);
		for (const body of bodies) {
			for (const secret of secrets) expect(body.includes(secret)).toBe(false);
			expect(body).not.toMatch(/secret:[0-9a-f]{8}/);
		}
		const events = JSON.parse(bodies[2] ?? "{}") as { events: Array<{ kind: string }> };
		expect(events.events.map((event) => event.kind)).toContain("refreshed");
	});
});

describe("startBrokerApp options", () => {
	it("refuses a non-loopback bind without admin tokens, and malformed hashes", async () => {
		const storage = new AuthStorage(createMemoryStore(), {});
		await storage.reload();
		await expect(startBrokerApp({ storage, bind: "0.0.0.0:0" })).rejects.toMatchObject({ code: "INVALID_OPTIONS" });
		await expect(startBrokerApp({ storage, bind: "[::]:0", adminTokenHashes: [] })).rejects.toMatchObject({
			code: "INVALID_OPTIONS",
		});
		await expect(startBrokerApp({ storage, bind: "127.0.0.1:0", adminTokenHashes: "abc" })).rejects.toMatchObject({
			code: "INVALID_OPTIONS",
		});
		await expect(startBrokerApp({ storage, bind: "nonsense" })).rejects.toMatchObject({ code: "INVALID_OPTIONS" });
		await expect(startBrokerApp({ storage, pollIntervalMs: -1 } as never)).rejects.toMatchObject({
			code: "INVALID_OPTIONS",
		});
		const open = await startBrokerApp({ storage, bind: "127.0.0.1:0" });
		const session = await fetch(`${open.url}/api/session`);
		expect(await session.json()).toEqual({ ok: true, auth: "none" });
		await open.close();
		await storage.close();
	});

	it("parses hash lists with commas, newlines and comments", () => {
		const one = hashAdminToken("test-admin-token-1");
		const two = hashAdminToken("test-admin-token-2");
		expect(parseAdminTokenHashes(`# admins\n${one.toUpperCase()},\n ${two}\n`)).toEqual([one, two]);
		expect(() => parseAdminTokenHashes(`${one},nothex`)).toThrow(/#2/);
	});
});
