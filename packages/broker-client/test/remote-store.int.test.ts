import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { AuthStorage, REMOTE_REFRESH_SENTINEL } from "@authpool/core";
import { type FakeProvider, startFakeProvider } from "@authpool/fake-provider";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRemoteStore } from "../src/index";
import {
	ADMIN,
	type BrokerSide,
	CLIENT,
	issuedRefreshTokens,
	startBrokerSide,
	startClient,
	tempDir,
	until,
	upsertAccount,
} from "./support";

let fake: FakeProvider;
let side: BrokerSide;
const received: string[] = [];
const closers: (() => Promise<void>)[] = [];

beforeAll(async () => {
	fake = await startFakeProvider();
	side = await startBrokerSide(fake);
});

afterAll(async () => {
	for (const close of closers.reverse()) await close();
	await side.broker.close();
	await side.storage.close();
	const tokens = issuedRefreshTokens(fake);
	await fake.close();
	// Every byte any client of this file received from the broker, against every refresh token created.
	const everything = received.join("");
	expect(tokens.length).toBeGreaterThan(3);
	expect(everything.length).toBeGreaterThan(1_000);
	for (const token of tokens) expect(everything.includes(token), "a refresh token reached a client").toBe(false);
});

/** The client's pool after one change check (the pool re-reads the store only when asked). */
async function hasRow(
	c: { storage: { pollChanges(): Promise<void>; listStoredCredentials(p: string): { id: number }[] } },
	id: number,
) {
	await c.storage.pollChanges();
	return c.storage.listStoredCredentials("anthropic").some((r) => r.id === id);
}

async function client(overrides: Parameters<typeof startClient>[3] = {}) {
	const c = await startClient(fake, side.broker.url, received, overrides);
	closers.push(() => c.close());
	return c;
}

describe("a client AuthStorage over the broker", () => {
	it("serves access tokens from the snapshot; refresh happens on the broker, the refresh token stays there", async () => {
		const account = fake.addAccount("anthropic", { email: "c1@example.com" });
		const id = await upsertAccount(side.broker.url, { ...account.credential, expires: Date.now() + 1_000 });
		const c = await client();
		const rows = c.storage.listStoredCredentials("anthropic");
		expect(rows.find((r) => r.id === id)?.credential).toMatchObject({ refresh: REMOTE_REFRESH_SENTINEL });
		// The row is inside the refresh window: the client's pool asks the broker (upstream hook), once.
		const before = fake.refreshCount(account.id);
		const key = await c.storage.getApiKey("anthropic", "session-1");
		expect(key).toBe(fake.account(account.id)!.accessToken);
		expect(fake.refreshCount(account.id) - before).toBe(1);
		expect(c.counts.get(`/v1/credential/${id}/refresh`)).toBe(1);
		const brokerRow = side.storage.listStoredCredentials("anthropic").find((r) => r.id === id)!;
		expect(brokerRow.credential).toMatchObject({ refresh: fake.account(account.id)!.refreshToken });
		expect(c.storage.listStoredCredentials("anthropic").find((r) => r.id === id)?.credential).toMatchObject({
			refresh: REMOTE_REFRESH_SENTINEL,
		});
	});

	it("SSE pushes upserts and disables to the client's pool", async () => {
		const c = await client();
		await until(() => c.store.streaming, 5_000, "stream connected");
		const account = fake.addAccount("anthropic", { email: "pushed@example.com" });
		const started = performance.now();
		const id = await upsertAccount(side.broker.url, account.credential);
		await until(async () => await hasRow(c, id), 5_000, "entry pushed");
		console.log(`SSE push reached the client pool in ${(performance.now() - started).toFixed(0)} ms`);
		expect(await side.storage.disableCredentialById(id, "test removal")).toBe(true);
		await until(async () => !(await hasRow(c, id)), 5_000, "removal pushed");
		expect((c.counts.get("/v1/snapshot/stream") ?? 0) >= 1).toBe(true);
	});

	it("long-poll fallback (no SSE) converges too", async () => {
		const c = await client({ stream: false });
		const account = fake.addAccount("anthropic", { email: "polled@example.com" });
		const id = await upsertAccount(side.broker.url, account.credential);
		await until(async () => await hasRow(c, id), 5_000, "long-poll change");
		expect(c.store.streaming).toBe(false);
		expect(c.counts.get("/v1/snapshot/stream")).toBeUndefined();
	});

	it("usage is one coalesced broker call for concurrent callers, cached after", async () => {
		const c = await client();
		const before = c.counts.get("/v1/usage") ?? 0;
		const results = await Promise.all(Array.from({ length: 6 }, () => c.storage.fetchUsageReports()));
		expect(results.every((r) => Array.isArray(r))).toBe(true);
		await c.storage.fetchUsageReports();
		expect((c.counts.get("/v1/usage") ?? 0) - before).toBe(1);
	});

	it("invalidateUsageCache drops the client's and the broker's cached usage: the next read reaches the provider", async () => {
		const account = fake.addAccount("anthropic", { email: "stale-client@example.com" });
		const id = await upsertAccount(side.broker.url, account.credential);
		const c = await client();
		await until(async () => await hasRow(c, id));
		const fraction = async () =>
			(await c.storage.fetchUsageReports()).find((report) => report.metadata?.email === "stale-client@example.com")
				?.limits[0]?.amount.usedFraction;
		fake.setUsage(account.id, { primary: { usedPercent: 10 } });
		// The broker's aggregate may predate this account (an earlier test read it): it is not in there yet.
		await c.storage.fetchUsageReports();
		await c.storage.invalidateUsageCache();
		expect(await fraction()).toBeCloseTo(0.1);
		fake.setUsage(account.id, { primary: { usedPercent: 60 } });
		expect(await fraction()).toBeCloseTo(0.1);
		await c.storage.invalidateUsageCache({ provider: "anthropic" });
		expect(c.counts.get("/v1/usage/stale")).toBe(2);
		expect(await fraction()).toBeCloseTo(0.6);
		await expect(c.storage.invalidateUsageCache({ provider: "Not A Provider" })).rejects.toMatchObject({
			code: "INVALID_INPUT",
		});
	});

	it("insertCredentialIfProviderAbsent through the broker: two clients seeding at once leave one row", async () => {
		const [a, b] = [await client({ token: ADMIN }), await client({ token: ADMIN })];
		const results = await Promise.all([
			a.storage.insertCredentialIfProviderAbsent("seeded-key", { type: "api_key", key: "test-seed-a" }),
			b.storage.insertCredentialIfProviderAbsent("seeded-key", { type: "api_key", key: "test-seed-b" }),
		]);
		expect(results.map((result) => result.inserted).sort()).toEqual([false, true]);
		const rows = await side.storage.listStoredCredentials("seeded-key");
		expect(rows).toHaveLength(1);
		for (const result of results) expect(result.entries.map((entry) => entry.id)).toEqual([rows[0]!.id]);
		expect(a.storage.get("seeded-key")).toEqual(rows[0]!.credential);
		await expect(
			a.storage.insertCredentialIfProviderAbsent("seeded-oauth", {
				type: "oauth",
				access: "a",
				refresh: "test-refresh-seeded",
				expires: Date.now() + 60_000,
			}),
		).rejects.toMatchObject({ code: "INVALID_INPUT" });
	});

	it("observed usage is batched to the broker: merged per model and hour, sent on the flush timer and on close", async () => {
		const c = await startClient(fake, side.broker.url, received, { observedUsageFlushMs: 100 });
		const storage = new AuthStorage(c.store, { env: {}, installId: "client-install", app: "gateway" });
		const entry = {
			at: Date.now(),
			provider: "anthropic",
			model: "sonnet",
			requests: 1,
			inputTokens: 10,
			outputTokens: 2,
		};
		const full = { ...entry, cacheReadTokens: 0, cacheWriteTokens: 0, costUsd: 0.01 };
		for (let i = 0; i < 5; i += 1) expect(await storage.recordObservedUsage(full)).toBe(true);
		expect(c.counts.get("/v1/usage/observed")).toBeUndefined();
		// One call for the five (counted once its answer is back, after the broker wrote it).
		await until(() => c.counts.get("/v1/usage/observed") === 1);
		const [summary] = (await side.storage.listClientUsage()).filter((s) => s.installId === "client-install");
		expect(summary!.providers).toEqual([
			{
				app: "gateway",
				provider: "anthropic",
				requests: 5,
				inputTokens: 50,
				outputTokens: 10,
				cacheReadTokens: 0,
				cacheWriteTokens: 0,
				costUsd: expect.closeTo(0.05, 9),
			},
		]);
		// Pending on close: sent before the store closes.
		await storage.recordObservedUsage({ ...full, model: "opus" });
		await c.close();
		const after = (await side.storage.listClientUsage()).find((s) => s.installId === "client-install")!;
		expect(after.providers[0]!.requests).toBe(6);
		await expect(storage.recordObservedUsage({ ...full, requests: -1 })).rejects.toMatchObject({
			code: "INVALID_INPUT",
		});
	});

	it("a client-token write is refused by the broker and surfaces as an error, not a silent local change", async () => {
		const c = await client();
		await expect(c.storage.upsertCredential("zai", { type: "api_key", key: "test-key-client" })).rejects.toMatchObject({
			code: "UPSTREAM_ERROR",
		});
		expect(c.storage.has("zai")).toBe(false);
	});

	it("an invalidated token makes the broker re-mint (suspect), and the client serves the new one", async () => {
		const account = fake.addAccount("anthropic", { email: "suspect@example.com" });
		const id = await upsertAccount(side.broker.url, account.credential);
		const c = await client();
		await until(async () => await hasRow(c, id));
		const old = fake.account(account.id)!.accessToken;
		const before = fake.refreshCount(account.id);
		await c.storage.invalidateCredentialMatching("anthropic", old);
		expect(fake.refreshCount(account.id) - before).toBe(1);
		const fresh = c.storage.listStoredCredentials("anthropic").find((r) => r.id === id)!.credential;
		expect(fresh).toMatchObject({ access: fake.account(account.id)!.accessToken });
		expect((fresh as { access: string }).access).not.toBe(old);
	});
});

describe("lifecycle", () => {
	it("aborting the signal closes the store: the stream ends and nothing reconnects", async () => {
		const controller = new AbortController();
		const c = await client({ signal: controller.signal });
		await until(() => c.store.streaming, 5_000, "stream connected");
		controller.abort();
		await until(() => !c.store.streaming, 5_000, "stream closed");
		const calls = [...c.counts.values()].reduce((a, b) => a + b, 0);
		await new Promise((resolve) => setTimeout(resolve, 600));
		expect([...c.counts.values()].reduce((a, b) => a + b, 0)).toBe(calls);
	});

	it("refuses bad options with INVALID_OPTIONS naming the field, never the token", async () => {
		for (const options of [
			{ url: "ftp://broker", token: CLIENT },
			{ url: side.broker.url, token: "   " },
			{ url: side.broker.url, token: CLIENT, requestTimeoutMs: -1 },
		]) {
			const error = await createRemoteStore(options).catch((e: unknown) => e);
			expect(error).toMatchObject({ code: "INVALID_OPTIONS" });
			expect(String((error as Error).message)).not.toContain(CLIENT);
		}
	});
});

/** A second broker over the same pool, to be stopped. */
async function startDoomedBroker() {
	const { startBroker, hashBrokerToken } = await import("@authpool/broker-server");
	return startBroker({
		storage: side.storage,
		bind: "127.0.0.1:0",
		tokens: { client: [{ hash: hashBrokerToken(CLIENT) }] },
		refresher: false,
	});
}

/** Until the client's debounced write has put a cache file there. */
async function untilWritten(cacheFile: string) {
	await until(() => {
		try {
			return statSync(cacheFile).size > 0;
		} catch {
			return false;
		}
	});
}

describe("encrypted snapshot cache", () => {
	it("lets a client start while the broker is down; wrong token, wrong URL, tampering or age → no cache", async () => {
		const cacheFile = join(tempDir(), "broker.cache");
		const account = fake.addAccount("anthropic", { email: "cached@example.com" });
		const id = await upsertAccount(side.broker.url, account.credential);
		const doomed = await startDoomedBroker();
		const url = doomed.url;
		const first = await client({ url, cacheFile });
		await untilWritten(cacheFile);
		expect(statSync(cacheFile).mode & 0o777).toBe(0o600);
		const bytes = readFileSync(cacheFile);
		expect(bytes.includes(Buffer.from(account.accessToken))).toBe(false);
		expect(bytes.includes(Buffer.from("cached@example.com"))).toBe(false);
		await first.close();
		await doomed.close();

		await expect(createRemoteStore({ url, token: CLIENT, requestTimeoutMs: 500 })).rejects.toMatchObject({
			code: "UPSTREAM_ERROR",
		});
		const offline = await startClient(fake, url, received, { cacheFile, requestTimeoutMs: 500 });
		closers.push(() => offline.close());
		expect(offline.store.source).toBe("cache");
		expect(await offline.storage.getApiKey("anthropic", "offline-session")).toBeDefined();
		expect((await offline.store.rows.get(id))?.credential).toMatchObject({ access: account.accessToken });

		const opens = (overrides: Record<string, unknown>) =>
			expect(
				createRemoteStore({ url, token: CLIENT, cacheFile, requestTimeoutMs: 500, ...overrides }),
			).rejects.toMatchObject({ code: "UPSTREAM_ERROR" });
		await opens({ token: "test-wrong-token" });
		await opens({ url: url.replace("127.0.0.1", "localhost") });
		await opens({ cacheTtlMs: 1_000, clock: { now: () => Date.now() + 10_000 } });
		const tampered = Buffer.from(bytes);
		tampered[tampered.length - 1] = tampered[tampered.length - 1]! ^ 1;
		writeFileSync(cacheFile, tampered);
		await opens({});
	});

	it("sealed under the operator's keys: opens with any key of the ring, for the same token and URL only", async () => {
		const cacheFile = join(tempDir(), "broker.cache");
		const account = fake.addAccount("anthropic", { email: "keyed@example.com" });
		const id = await upsertAccount(side.broker.url, account.credential);
		const doomed = await startDoomedBroker();
		const url = doomed.url;
		// Obviously fake keys: constant bytes.
		const oldKey = Buffer.alloc(32, 0x11);
		const newKey = Buffer.alloc(32, 0x22);
		const first = await client({ url, cacheFile, cacheKeys: { keys: { old: oldKey }, activeKeyId: "old" } });
		await untilWritten(cacheFile);
		expect(readFileSync(cacheFile).includes(Buffer.from(account.accessToken))).toBe(false);
		await first.close();
		await doomed.close();

		const offline = await startClient(fake, url, received, {
			cacheFile,
			requestTimeoutMs: 500,
			cacheKeys: {
				keys: new Map([
					["old", oldKey],
					["new", newKey],
				]),
				activeKeyId: "new",
			},
		});
		closers.push(() => offline.close());
		expect(offline.store.source).toBe("cache");
		expect((await offline.store.rows.get(id))?.credential).toMatchObject({ access: account.accessToken });

		const refused = (overrides: Record<string, unknown>) =>
			expect(
				createRemoteStore({ url, token: CLIENT, cacheFile, requestTimeoutMs: 500, ...overrides }),
			).rejects.toMatchObject({ code: "UPSTREAM_ERROR" });
		await refused({ cacheKeys: { keys: { new: newKey }, activeKeyId: "new" } });
		await refused({ cacheKeys: { keys: { old: newKey }, activeKeyId: "old" } });
		await refused({ token: "test-other-token", cacheKeys: { keys: { old: oldKey }, activeKeyId: "old" } });
		await refused({}); // the token-derived key does not open a file sealed under the operator's keys
		await expect(
			createRemoteStore({
				url,
				token: CLIENT,
				cacheFile,
				cacheKeys: { keys: { old: Buffer.alloc(8) }, activeKeyId: "old" },
			}),
		).rejects.toMatchObject({ code: "INVALID_OPTIONS" });
	});
});
