import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { snapshotResponseSchema } from "@authpool/broker-protocol";
import { AuthStorage, createMemoryStore, REMOTE_REFRESH_SENTINEL } from "@authpool/core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startBroker } from "../src/index";
import { ADMIN, CLIENT, METRICS, openStream, startWorld, TENANT, type World } from "./support";

let world: World;
const seenRefreshTokens = new Set<string>();

beforeAll(async () => {
	world = await startWorld({ refreshRateLimit: { perMinute: 60, burst: 8 } });
});

afterAll(async () => {
	for (const token of world.refreshTokens()) seenRefreshTokens.add(token);
	await world.close();
	// Every byte the broker sent in this file, against every refresh token the test created.
	const everything = world.received.join("\n");
	expect(seenRefreshTokens.size).toBeGreaterThan(3);
	for (const token of seenRefreshTokens)
		expect(everything.includes(token), "a refresh token left the broker").toBe(false);
	// And no log line of the broker or its pool carries one (the echoing token endpoint included).
	const logs = world.logs.join("\n");
	expect(world.logs.length).toBeGreaterThan(10);
	for (const token of seenRefreshTokens) expect(logs.includes(token), "a refresh token reached a log line").toBe(false);
	for (const token of [ADMIN, CLIENT, METRICS, TENANT]) expect(logs.includes(token)).toBe(false);
});

async function addAccount(email: string) {
	const account = world.fake.addAccount("anthropic", { email });
	const entries = (await world
		.call("/v1/credential", {
			method: "POST",
			body: JSON.stringify({ provider: "anthropic", credential: account.credential }),
		})
		.then((r) => r.json())) as { id: number; entries: unknown[] };
	return { account, id: entries.id };
}

describe("public routes", () => {
	it("health needs no token; the OpenAPI document is served and equals the committed one", async () => {
		const health = await world.call("/v1/healthz", { token: null });
		expect(health.status).toBe(200);
		expect(health.json()).toMatchObject({ ok: true, protocol: 1 });
		const doc = await world.call("/v1/openapi.json", { token: null });
		const committed = JSON.parse(
			readFileSync(new URL("../../broker-protocol/openapi.json", import.meta.url), "utf8"),
		) as { paths: unknown };
		expect((doc.json() as { paths: unknown }).paths).toEqual(committed.paths);
	});

	it("unknown routes are 404 {error}, wrong methods 405, and nothing echoes a stack", async () => {
		const missing = await world.call("/v1/nope");
		expect(missing.status).toBe(404);
		expect(missing.json()).toEqual({ error: "No route: GET /v1/nope" });
		expect((await world.call("/v1/snapshot", { method: "DELETE" })).status).toBe(405);
	});
});

describe("snapshot, ETag and long-poll", () => {
	it("answers the redacted view with a generation ETag; 304 when unchanged; a wait wakes on change", async () => {
		const { account } = await addAccount("snap@example.com");
		const first = await world.call("/v1/snapshot", { token: CLIENT });
		expect(first.status).toBe(200);
		const snapshot = snapshotResponseSchema.parse(first.json());
		expect(first.headers.get("etag")).toBe(`"${snapshot.generation}"`);
		expect(first.headers.get("vary")).toBe("Authpool-Broker-Capabilities");
		const entry = snapshot.credentials.find(
			(e) => e.credential.type === "oauth" && e.credential.email === "snap@example.com",
		);
		expect(entry?.credential).toMatchObject({ refresh: REMOTE_REFRESH_SENTINEL, access: account.accessToken });
		expect(first.text.includes(account.refreshToken)).toBe(false);

		const etag = first.headers.get("etag")!;
		const unchanged = await world.call("/v1/snapshot?wait=50", {
			token: CLIENT,
			headers: { "if-none-match": `W/${etag}` },
		});
		expect(unchanged.status).toBe(304);
		expect(unchanged.text).toBe("");

		const started = performance.now();
		const waiting = world.call("/v1/snapshot?wait=10000", { token: CLIENT, headers: { "if-none-match": etag } });
		await new Promise((resolve) => setTimeout(resolve, 50));
		await addAccount("wake@example.com");
		const woke = await waiting;
		const waitedMs = performance.now() - started;
		expect(woke.status).toBe(200);
		expect(Number(JSON.parse(woke.headers.get("etag")!))).toBeGreaterThan(snapshot.generation);
		// Woken by the change, long before the 10 s deadline.
		expect(waitedMs).toBeLessThan(5_000);
		console.log(`long-poll woke after ${waitedMs.toFixed(0)} ms (deadline 10000 ms)`);
	});

	it("rejects bad queries with 400 {error}", async () => {
		for (const q of ["wait=-1", "wait=abc", "wait=40000", "other=1", "wait=1&wait=2"]) {
			const reply = await world.call(`/v1/snapshot?${q}`, { token: CLIENT });
			expect(reply.status, q).toBe(400);
			expect(typeof (reply.json() as { error: string }).error).toBe("string");
		}
	});
});

describe("SSE stream", () => {
	it("sends a snapshot first, then entry and removed frames", async () => {
		const stream = await openStream(world);
		expect(stream.status).toBe(200);
		const first = await stream.waitFor(() => true);
		expect(first.event).toBe("snapshot");
		const { id } = await addAccount("stream@example.com");
		const entry = await stream.waitFor(
			(e) => e.event === "entry" && (e.data as { entry: { id: number } }).entry.id === id,
		);
		expect((entry.data as { entry: { credential: { refresh: string } } }).entry.credential.refresh).toBe(
			REMOTE_REFRESH_SENTINEL,
		);
		expect((await world.call(`/v1/credential/${id}/disable`, { method: "POST" })).status).toBe(200);
		await stream.waitFor((e) => e.event === "removed" && (e.data as { id: number }).id === id);
		await stream.close();
	});

	it("a client without entry-diffs gets whole snapshots; one without block-scopes gets collapsed blocks", async () => {
		const { id } = await addAccount("old-client@example.com");
		const stream = await openStream(world, CLIENT, "");
		await stream.waitFor((e) => e.event === "snapshot");
		const until = Date.now() + 60_000;
		await world.call(`/v1/credential/${id}/block`, {
			token: CLIENT,
			method: "POST",
			body: JSON.stringify({ providerKey: "anthropic:oauth", blockScope: "opus", blockedUntilMs: until }),
		});
		const frame = await stream.waitFor(
			(e) =>
				e.event === "snapshot" &&
				(e.data as { credentials: { id: number; blocks: unknown[] }[] }).credentials.some(
					(c) => c.id === id && c.blocks.length > 0,
				),
		);
		const row = (frame.data as { credentials: { id: number; blocks: { blockScope: string }[] }[] }).credentials.find(
			(c) => c.id === id,
		)!;
		expect(row.blocks).toEqual([expect.objectContaining({ blockScope: "", blockedUntilMs: until })]);
		expect(stream.events.some((e) => e.event === "entry")).toBe(false);
		await stream.close();
	});
});

describe("refresh", () => {
	it("concurrent forced refreshes of one row make one provider call; the real token stays on the broker", async () => {
		const { account, id } = await addAccount("refresh@example.com");
		const before = world.fake.refreshCount(account.id);
		const replies = await Promise.all(
			Array.from({ length: 5 }, () => world.call(`/v1/credential/${id}/refresh`, { token: CLIENT, method: "POST" })),
		);
		expect(replies.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
		expect(world.fake.refreshCount(account.id) - before).toBe(1);
		const entry = (replies[0]!.json() as { entry: { credential: { access: string; refresh: string } } }).entry;
		expect(entry.credential.refresh).toBe(REMOTE_REFRESH_SENTINEL);
		expect(entry.credential.access).toBe(account.accessToken);
		const stored = world.storage.listStoredCredentials("anthropic").find((row) => row.id === id)!;
		expect(stored.credential).toMatchObject({ refresh: account.refreshToken });
	});

	it("a provider error that echoes the refresh token is scrubbed; unknown ids 404; API keys 409", async () => {
		const { id } = await addAccount("echo@example.com");
		world.fake.failNext("anthropic", "token", { mode: "echoRefreshToken" });
		const failed = await world.call(`/v1/credential/${id}/refresh`, { method: "POST" });
		expect(failed.status).toBeGreaterThanOrEqual(500);
		expect(failed.json()).toEqual({ error: expect.stringMatching(/^Refresh/) });
		expect((await world.call("/v1/credential/999999/refresh", { method: "POST" })).status).toBe(404);
		const key = await world.call("/v1/credential", {
			method: "POST",
			body: JSON.stringify({ provider: "zai", credential: { type: "api_key", key: "test-key-1" } }),
		});
		expect(
			(await world.call(`/v1/credential/${(key.json() as { id: number }).id}/refresh`, { method: "POST" })).status,
		).toBe(409);
	});

	it("refresh routes are rate-limited per token: 429 with Retry-After", async () => {
		const { id } = await addAccount("limit@example.com");
		const statuses: number[] = [];
		let retryAfter: string | null = null;
		for (let i = 0; i < 12; i += 1) {
			const reply = await world.call(`/v1/credential/${id}/refresh`, { token: TENANT, method: "POST" });
			statuses.push(reply.status);
			if (reply.status === 429) retryAfter = reply.headers.get("retry-after");
		}
		// The tenant token cannot see anthropic rows (404) but still spends its own bucket.
		expect(statuses.slice(0, 8).every((s) => s === 404)).toBe(true);
		expect(statuses.slice(8).every((s) => s === 429)).toBe(true);
		expect(Number(retryAfter)).toBeGreaterThanOrEqual(1);
		// Another token's bucket is untouched (and a refresh right after the broker's own is not re-minted).
		expect((await world.call(`/v1/credential/${id}/refresh`, { token: CLIENT, method: "POST" })).status).toBe(200);
	});
});

describe("writes", () => {
	it("conditional disable: 412 when the caller's view is stale, 200 when current", async () => {
		const { account, id } = await addAccount("cas@example.com");
		const stale = createHash("sha256").update("an-older-access-token").digest("hex");
		const refused = await world.call(`/v1/credential/${id}/disable`, {
			method: "POST",
			body: JSON.stringify({ cause: "revoked", expectedAccessFingerprint: stale }),
		});
		expect(refused.status).toBe(412);
		const current = createHash("sha256").update(account.accessToken).digest("hex");
		const ok = await world.call(`/v1/credential/${id}/disable`, {
			method: "POST",
			body: JSON.stringify({ cause: "revoked", expectedAccessFingerprint: current }),
		});
		expect(ok.status).toBe(200);
		expect((await world.call(`/v1/credential/${id}/disable`, { method: "POST" })).status).toBe(404);
		const disabled = await world.call("/v1/credentials/disabled?provider=anthropic");
		const row = (disabled.json() as { disabled: { id: number; disabledCause: string }[] }).disabled.find(
			(d) => d.id === id,
		);
		expect(row).toMatchObject({ disabledCause: "revoked", type: "oauth", email: "cas@example.com" });
		expect(disabled.text.includes(account.accessToken)).toBe(false);
	});

	it("block max-merges, unblock lifts; bad bodies are 400, oversized 413", async () => {
		const { id } = await addAccount("block@example.com");
		const until = Date.now() + 120_000;
		const block = (blockedUntilMs: number) =>
			world.call(`/v1/credential/${id}/block`, {
				token: CLIENT,
				method: "POST",
				body: JSON.stringify({ providerKey: "anthropic:oauth", blockedUntilMs }),
			});
		expect((await block(until)).json()).toEqual({ ok: true, blockedUntilMs: until });
		expect((await block(until - 60_000)).json()).toEqual({ ok: true, blockedUntilMs: until });
		const snap = snapshotResponseSchema.parse((await world.call("/v1/snapshot")).json());
		expect(snap.credentials.find((c) => c.id === id)?.blocks).toHaveLength(1);
		expect((await world.call(`/v1/credential/${id}/blocks`, { token: CLIENT, method: "DELETE" })).status).toBe(403);
		expect((await world.call(`/v1/credential/${id}/blocks`, { method: "DELETE" })).status).toBe(200);
		const after = snapshotResponseSchema.parse((await world.call("/v1/snapshot")).json());
		expect(after.credentials.find((c) => c.id === id)?.blocks).toEqual([]);

		const post = (body: string) => world.call(`/v1/credential/${id}/block`, { method: "POST", body });
		expect((await post("{not json")).json()).toEqual({ error: "Invalid JSON body" });
		expect((await post("")).status).toBe(400);
		expect((await post(JSON.stringify({ providerKey: "anthropic:oauth", blockedUntilMs: "soon" }))).status).toBe(400);
		expect((await post(JSON.stringify({ providerKey: "other:oauth", blockedUntilMs: 1 }))).status).toBe(400);
		const huge = await post(JSON.stringify({ providerKey: "x".repeat(200_000), blockedUntilMs: 1 }));
		expect(huge.status).toBe(413);
	});

	it("upsert takes the real refresh token and refuses the sentinel; a client token cannot upsert", async () => {
		const credential = {
			type: "oauth",
			access: "test-access-9",
			refresh: REMOTE_REFRESH_SENTINEL,
			expires: Date.now() + 3_600_000,
		};
		const refused = await world.call("/v1/credential", {
			method: "POST",
			body: JSON.stringify({ provider: "anthropic", credential }),
		});
		expect(refused.status).toBe(400);
		const byClient = await world.call("/v1/credential", {
			token: CLIENT,
			method: "POST",
			body: JSON.stringify({ provider: "anthropic", credential: { ...credential, refresh: "test-refresh-9" } }),
		});
		expect(byClient.status).toBe(403);
		seenRefreshTokens.add("test-refresh-9");
		const extension = await world.call("/v1/credential", {
			method: "POST",
			body: JSON.stringify({
				provider: "anthropic",
				credential: {
					...credential,
					refresh: "test-refresh-10",
					email: "ext@example.com",
					tokenUrl: "https://idp.example/t",
				},
			}),
		});
		seenRefreshTokens.add("test-refresh-10");
		expect(extension.status).toBe(200);
		const written = (extension.json() as { id: number; entries: { id: number; credential: Record<string, unknown> }[] })
			.entries;
		expect(written.find((e) => e.credential.email === "ext@example.com")?.credential).toMatchObject({
			tokenUrl: "https://idp.example/t",
			refresh: REMOTE_REFRESH_SENTINEL,
		});
	});
});

describe("conditional insert (ifProviderAbsent)", () => {
	it("of concurrent seeds exactly one inserts; later seeds are refused; only API keys; a client token cannot", async () => {
		const seed = (key: string, token?: string) =>
			world.call("/v1/credential", {
				method: "POST",
				...(token ? { token } : {}),
				body: JSON.stringify({ provider: "seeded", credential: { type: "api_key", key }, ifProviderAbsent: true }),
			});
		const replies = await Promise.all(
			["test-seed-1", "test-seed-2", "test-seed-3", "test-seed-4"].map((key) => seed(key)),
		);
		expect(replies.map((reply) => reply.status)).toEqual([200, 200, 200, 200]);
		const bodies = replies.map(
			(reply) => reply.json() as { inserted: boolean; id?: number; entries: { id: number }[] },
		);
		const winners = bodies.filter((body) => body.inserted);
		expect(winners).toHaveLength(1);
		for (const body of bodies) expect(body.entries.map((entry) => entry.id)).toEqual([winners[0]!.id]);
		for (const body of bodies.filter((b) => !b.inserted)) expect(body.id).toBeUndefined();
		expect((await seed("test-seed-5")).json()).toMatchObject({ inserted: false });

		const oauthSeed = await world.call("/v1/credential", {
			method: "POST",
			body: JSON.stringify({
				provider: "fresh",
				credential: { type: "oauth", access: "a", refresh: "test-refresh-seed", expires: Date.now() + 60_000 },
				ifProviderAbsent: true,
			}),
		});
		seenRefreshTokens.add("test-refresh-seed");
		expect(oauthSeed.status).toBe(400);
		expect(oauthSeed.json()).toEqual({ error: "Invalid body: ifProviderAbsent applies to API keys only" });
		expect((await seed("test-seed-6", CLIENT)).status).toBe(403);
		// A plain upsert still answers as before: the written id, no `inserted`.
		const plain = await world.call("/v1/credential", {
			method: "POST",
			body: JSON.stringify({ provider: "seeded", credential: { type: "api_key", key: "test-seed-7" } }),
		});
		expect(plain.json()).toEqual({ entries: expect.any(Array), id: expect.any(Number) });
	});
});

describe("client-observed usage", () => {
	const entry = (overrides: Record<string, unknown> = {}) => ({
		at: Date.now(),
		provider: "anthropic",
		model: "claude-sonnet",
		requests: 2,
		inputTokens: 1_000,
		outputTokens: 200,
		cacheReadTokens: 50,
		cacheWriteTokens: 10,
		costUsd: 0.5,
		...overrides,
	});
	const post = (body: unknown, token?: string) =>
		world.call("/v1/usage/observed", { method: "POST", ...(token ? { token } : {}), body: JSON.stringify(body) });

	it("reports add up per install on the broker; a tenant reports and reads only its providers", async () => {
		expect(
			(await post({ installId: "laptop-a", hostname: "a.local", app: "cli", entries: [entry()] }, CLIENT)).json(),
		).toEqual({
			ok: true,
		});
		await post(
			{ installId: "laptop-a", hostname: "a.local", app: "cli", entries: [entry({ model: "claude-opus" })] },
			CLIENT,
		);
		await post({ installId: "ci-1", entries: [entry({ provider: "openai-codex", requests: 1 })] }, TENANT);
		expect((await post({ installId: "ci-1", entries: [entry()] }, TENANT)).status).toBe(403);

		const all = await world.call("/v1/usage/clients", { token: CLIENT });
		expect(all.status).toBe(200);
		const clients = (
			all.json() as { clients: { installId: string; hostname?: string; providers: Record<string, unknown>[] }[] }
		).clients;
		expect(clients.find((c) => c.installId === "laptop-a")).toMatchObject({
			hostname: "a.local",
			providers: [{ app: "cli", provider: "anthropic", requests: 4, inputTokens: 2_000, costUsd: 1 }],
		});
		const tenant = (await world.call("/v1/usage/clients?sinceMs=0", { token: TENANT })).json() as {
			clients: { installId: string; providers: { provider: string }[] }[];
		};
		expect(tenant.clients.map((c) => c.installId)).toEqual(["ci-1"]);
		expect(tenant.clients.flatMap((c) => c.providers.map((p) => p.provider))).toEqual(["openai-codex"]);
		expect((await world.call("/v1/usage/clients?sinceMs=-5", { token: CLIENT })).status).toBe(400);
		expect((await world.call("/v1/usage/clients", { token: METRICS })).status).toBe(403);
	});

	it("bad reports are 400 and add nothing", async () => {
		const clientsNow = async () =>
			JSON.stringify(((await world.call("/v1/usage/clients")).json() as { clients: unknown }).clients);
		const before = await clientsNow();
		for (const body of [
			{},
			{ installId: "x" },
			{ installId: "", entries: [] },
			{ installId: "x", entries: [entry({ requests: -1 })] },
			{ installId: "x", entries: [entry({ extra: 1 })] },
			{ installId: "x", entries: [entry({ costUsd: "1" })] },
			{ installId: "x\u0000", entries: [entry()] },
			{ installId: "x", entries: Array.from({ length: 1001 }, () => entry()) },
			{ installId: "x", entries: [entry()], unknown: true },
		]) {
			const reply = await post(body);
			expect(reply.status, JSON.stringify(body).slice(0, 80)).toBeGreaterThanOrEqual(400);
			expect(reply.status).toBeLessThan(500);
		}
		expect(await clientsNow()).toBe(before);
	});

	it("a broker whose store keeps no client usage answers 501", async () => {
		const memory = createMemoryStore();
		const { recordClientUsage: _r, listClientUsage: _l, ...ledger } = memory.ledger!;
		const store = new Proxy(memory, {
			get: (target, property) => (property === "ledger" ? ledger : Reflect.get(target, property)),
		});
		const storage = new AuthStorage(store, { env: {} });
		const bare = await startBroker({ storage, bind: "127.0.0.1:0", refresher: false });
		try {
			const reply = await fetch(`${bare.url}/v1/usage/observed`, {
				method: "POST",
				headers: { "content-type": "application/json" },
				body: JSON.stringify({ installId: "x", entries: [entry()] }),
			});
			expect(reply.status).toBe(501);
			expect(await reply.json()).toEqual({ error: "broker store does not persist client usage" });
			expect(await (await fetch(`${bare.url}/v1/usage/clients`)).json()).toMatchObject({ clients: [] });
		} finally {
			await bare.close();
			await storage.close();
		}
	});
});

describe("usage, history, metrics", () => {
	it("usage/stale drops the broker's cached reports: the next read asks the provider again", async () => {
		const { account } = await addAccount("stale@example.com");
		const fractionOf = async () => {
			const reply = await world.call("/v1/usage", { token: CLIENT });
			const reports = (
				reply.json() as {
					reports: { metadata?: { email?: string }; limits: { amount: { usedFraction?: number } }[] }[];
				}
			).reports;
			return reports.find((report) => report.metadata?.email === "stale@example.com")?.limits[0]?.amount.usedFraction;
		};
		world.fake.setUsage(account.id, { primary: { usedPercent: 20 } });
		expect(await fractionOf()).toBeCloseTo(0.2);
		world.fake.setUsage(account.id, { primary: { usedPercent: 70 } });
		// Cached on the broker (and per account below it).
		expect(await fractionOf()).toBeCloseTo(0.2);
		const stale = await world.call("/v1/usage/stale", { token: CLIENT, method: "POST" });
		expect(stale.status).toBe(200);
		expect(stale.json()).toEqual({ ok: true });
		expect(await fractionOf()).toBeCloseTo(0.7);

		// One provider only, and only a provider the token sees; bad bodies are 400.
		world.fake.setUsage(account.id, { primary: { usedPercent: 90 } });
		const scoped = await world.call("/v1/usage/stale", {
			token: CLIENT,
			method: "POST",
			body: JSON.stringify({ provider: "anthropic" }),
		});
		expect(scoped.status).toBe(200);
		expect(await fractionOf()).toBeCloseTo(0.9);
		const tenant = await world.call("/v1/usage/stale", {
			token: TENANT,
			method: "POST",
			body: JSON.stringify({ provider: "anthropic" }),
		});
		expect(tenant.status).toBe(403);
		const bad = await world.call("/v1/usage/stale", { method: "POST", body: JSON.stringify({ provider: 7 }) });
		expect(bad.status).toBe(400);
		expect((await world.call("/v1/usage/stale", { method: "POST", body: JSON.stringify({ extra: 1 }) })).status).toBe(
			400,
		);
		expect((await world.call("/v1/usage/stale", { token: METRICS, method: "POST" })).status).toBe(403);
	});

	it("aggregate usage strips raw, bounds maxAgeMs; history answers; metrics render", async () => {
		const { account } = await addAccount("usage@example.com");
		world.fake.setUsage(account.id, { primary: { usedPercent: 40 } });
		const usage = await world.call("/v1/usage?maxAgeMs=5000", { token: CLIENT });
		expect(usage.status).toBe(200);
		const reports = (usage.json() as { reports: Record<string, unknown>[] }).reports;
		expect(reports.length).toBeGreaterThan(0);
		expect(reports.every((r) => !("raw" in r))).toBe(true);
		expect((await world.call("/v1/usage?maxAgeMs=1000", { token: CLIENT })).status).toBe(400);
		const history = await world.call("/v1/usage/history?provider=anthropic&sinceMs=0", { token: CLIENT });
		expect(history.status).toBe(200);
		expect((await world.call("/v1/usage/history?provider=anthropic", { token: TENANT })).status).toBe(403);

		const metrics = await world.call("/metrics", { token: METRICS });
		expect(metrics.status).toBe(200);
		expect(metrics.headers.get("content-type")).toContain("text/plain; version=0.0.4");
		expect(metrics.text).toMatch(/authpool_broker_credentials\{provider="anthropic",type="oauth"\} \d+/);
		expect(metrics.text).toMatch(
			/authpool_broker_refreshes_total\{provider="anthropic",trigger="request",outcome="ok"\} \d+/,
		);
		expect(metrics.text).toContain("authpool_broker_request_duration_seconds_bucket");
		expect(metrics.text).toContain("authpool_usage_limit_used_fraction");
	});

	it("a tenant token sees only its providers", async () => {
		await world.call("/v1/credential", {
			method: "POST",
			body: JSON.stringify({ provider: "openai-codex", credential: { type: "api_key", key: "test-key-codex" } }),
		});
		const snap = snapshotResponseSchema.parse((await world.call("/v1/snapshot", { token: TENANT })).json());
		expect(new Set(snap.credentials.map((c) => c.provider))).toEqual(new Set(["openai-codex"]));
	});
});
