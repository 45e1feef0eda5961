import { describe, expect, it } from "vitest";
import { AuthStorage } from "./auth-storage";
import { countingStore, fakeOAuthPlugin, HOUR, manualClock, oauth } from "./auth-storage.test-utils";
import { sessionPinKey } from "./selection/affinity";
import { createMemoryStore, createMemoryStoreBackend } from "./store/memory-store";
import { xxHash32 } from "./util/hash";

function setup(options: { envApiKeys?: string[]; env?: Record<string, string> } = {}) {
	const clock = manualClock();
	const plugin = fakeOAuthPlugin("acme", clock, { envApiKeys: options.envApiKeys ?? ["ACME_API_KEY"] });
	const backend = createMemoryStoreBackend();
	const store = createMemoryStore({ clock, backend });
	const make = (s = createMemoryStore({ clock, backend })) =>
		new AuthStorage(s, { providers: [plugin], clock, env: options.env ?? {} });
	return { clock, plugin, backend, store, storage: make(store), make };
}

describe("AuthStorage precedence", () => {
	it("runtime → config → oauth → env → stored key → fallback, with matching origin and description", async () => {
		const { storage, store, clock } = setup({ env: { ACME_API_KEY: "env-key", CONFIG_VAR: "config-from-env" } });
		await store.rows.insert("acme", { type: "api_key", key: "stored-key" });
		await store.rows.insert("acme", oauth("a@x.io", clock.now()));
		await storage.reload();
		storage.setFallbackResolver((provider) => (provider === "acme" ? "fallback-key" : undefined));
		storage.setRuntimeApiKey("acme", "runtime-key");
		storage.setConfigApiKey("acme", "CONFIG_VAR");

		expect(await storage.getApiKey("acme")).toBe("runtime-key");
		expect(storage.getCredentialOrigin("acme")).toEqual({ kind: "runtime" });
		expect(storage.describeCredentialSource("acme")).toMatch(/runtime/);

		storage.removeRuntimeApiKey("acme");
		expect(await storage.getApiKey("acme")).toBe("config-from-env");
		expect(storage.getCredentialOrigin("acme")).toEqual({ kind: "config" });
		expect(storage.describeCredentialSource("acme")).toMatch(/config/);

		storage.removeConfigApiKey("acme");
		expect(await storage.getApiKey("acme")).toBe("access-a@x.io-0");
		expect(storage.getCredentialOrigin("acme")).toEqual({ kind: "oauth" });
		expect(storage.describeCredentialSource("acme")).toMatch(/oauth #\d+ \(a@x\.io\)/);

		await storage.remove("acme");
		await store.rows.insert("acme", { type: "api_key", key: "stored-key" });
		await storage.reload();
		expect(await storage.getApiKey("acme")).toBe("env-key");
		expect(storage.getCredentialOrigin("acme")).toEqual({ kind: "env", envVar: "ACME_API_KEY" });
		expect(storage.describeCredentialSource("acme")).toMatch(/env ACME_API_KEY/);
		expect(storage.hasNonEnvCredential("acme")).toBe(true);
	});

	it("stored key beats the fallback; fallback is last; nothing configured → undefined", async () => {
		const { storage, store } = setup();
		storage.setFallbackResolver(() => "fallback-key");
		await storage.reload();
		expect(await storage.getApiKey("acme")).toBe("fallback-key");
		expect(storage.getCredentialOrigin("acme")).toEqual({ kind: "fallback" });
		await store.rows.insert("acme", { type: "api_key", key: "stored-key" });
		expect(await storage.getApiKey("acme")).toBe("stored-key");
		expect(storage.getCredentialOrigin("acme")).toEqual({ kind: "api_key" });
		expect(storage.describeCredentialSource("acme")).toMatch(/api_key #\d+/);
		storage.setFallbackResolver(undefined);
		expect(await storage.getApiKey("nobody")).toBeUndefined();
		expect(storage.getCredentialOrigin("nobody")).toBeUndefined();
		expect(storage.hasAuth("nobody")).toBe(false);
	});

	it("origin and description have no side effects (no store call, no pin)", async () => {
		const { clock, plugin } = setup();
		const counted = countingStore(createMemoryStore({ clock }));
		await counted.store.rows.insert("acme", oauth("a@x.io", clock.now()));
		const storage = new AuthStorage(counted.store, { providers: [plugin], clock, env: {} });
		await storage.reload();
		counted.reset();
		storage.getCredentialOrigin("acme");
		storage.describeCredentialSource("acme", "s1");
		storage.hasAuth("acme");
		expect(counted.counts).toEqual({});
	});

	it("uses plugin.oauth.toApiKey for the handed-out key", async () => {
		const clock = manualClock();
		const plugin = fakeOAuthPlugin("copilot", clock);
		plugin.oauth!.toApiKey = (credential) => JSON.stringify({ token: credential.access });
		const store = createMemoryStore({ clock });
		await store.rows.insert("copilot", oauth("c@x.io", clock.now()));
		const storage = new AuthStorage(store, { providers: [plugin], clock, env: {} });
		await storage.reload();
		expect(JSON.parse((await storage.getApiKey("copilot"))!)).toEqual({ token: "access-c@x.io-0" });
	});
});

describe("AuthStorage selection", () => {
	async function threeAccounts() {
		const ctx = setup();
		for (const email of ["a@x.io", "b@x.io", "c@x.io"])
			await ctx.store.rows.insert("acme", oauth(email, ctx.clock.now()));
		await ctx.storage.reload();
		return ctx;
	}

	it("a session starts at xxHash32(sessionId) % n and keeps its row", async () => {
		const { storage } = await threeAccounts();
		const rows = storage.listStoredCredentials("acme");
		for (const sessionId of ["s-1", "s-2", "s-3", "s-4"]) {
			const expected = rows[xxHash32(sessionId) % rows.length]!;
			const first = await storage.getApiKey("acme", sessionId);
			expect(first).toBe((expected.credential as { access: string }).access);
			for (let i = 0; i < 5; i += 1) expect(await storage.getApiKey("acme", sessionId)).toBe(first);
		}
	});

	it("a session keeps its row across a new AuthStorage on the same store", async () => {
		const { storage, make, clock, store } = await threeAccounts();
		// Move the pin off the hash start so the test proves the persisted pin is read.
		const sessionId = "sticky-session";
		const rows = storage.listStoredCredentials("acme");
		const start = xxHash32(sessionId) % rows.length;
		const other = rows[(start + 1) % rows.length]!;
		await store.cache.set(
			sessionPinKey("acme", sessionId),
			JSON.stringify({ type: "oauth", credentialId: other.id }),
			clock.now() + HOUR,
		);
		const second = make();
		await second.reload();
		expect(await second.getApiKey("acme", sessionId)).toBe((other.credential as { access: string }).access);
		const third = make();
		expect(await third.getApiKey("acme", sessionId)).toBe((other.credential as { access: string }).access);
	});

	it("a pin to a removed row is dropped", async () => {
		const { storage, store } = await threeAccounts();
		const first = await storage.getApiKey("acme", "s-gone");
		const pinned = storage
			.listStoredCredentials("acme")
			.find((row) => (row.credential as { access: string }).access === first)!;
		await storage.removeCredential("acme", pinned.id);
		const next = await storage.getApiKey("acme", "s-gone");
		expect(next).toBeDefined();
		expect(next).not.toBe(first);
		// Automatic pins are written behind the call.
		await new Promise((resolve) => setTimeout(resolve, 5));
		const persisted = JSON.parse((await store.cache.get(sessionPinKey("acme", "s-gone")))!);
		expect(persisted.credentialId).not.toBe(pinned.id);
	});

	it("sessions spread across rows", async () => {
		const { storage } = await threeAccounts();
		const seen = new Set<string>();
		for (let i = 0; i < 60; i += 1) seen.add((await storage.getApiKey("acme", `spread-${i}`))!);
		expect(seen.size).toBe(3);
	});

	it("without a session, rows take turns (round-robin)", async () => {
		const { storage } = await threeAccounts();
		const keys: string[] = [];
		for (let i = 0; i < 6; i += 1) keys.push((await storage.getApiKey("acme"))!);
		expect(new Set(keys.slice(0, 3)).size).toBe(3);
		expect(keys.slice(3)).toEqual(keys.slice(0, 3));
	});

	it("blocked rows are skipped; all blocked → the first to unblock", async () => {
		const { storage, clock } = await threeAccounts();
		const rows = storage.listStoredCredentials("acme");
		const access = (i: number) => (rows[i]!.credential as { access: string }).access;
		// Block row 0 and 1 through sessionless marks: each mark applies to the row last handed out.
		expect(await storage.getApiKey("acme")).toBe(access(0));
		await storage.markUsageLimitReached("acme", undefined, { retryAfterMs: 5 * 60_000 });
		expect(await storage.getApiKey("acme")).toBe(access(1));
		await storage.markUsageLimitReached("acme", undefined, { retryAfterMs: 2 * 60_000 });
		for (let i = 0; i < 4; i += 1) expect(await storage.getApiKey("acme")).toBe(access(2));
		const result = await storage.markUsageLimitReached("acme", undefined, { retryAfterMs: 10 * 60_000 });
		expect(result).toEqual({ switched: false, retryAtMs: clock.now() + 2 * 60_000 });
		// All blocked: row 1 unblocks first.
		expect(await storage.getApiKey("acme")).toBe(access(1));
		expect(await storage.getApiKey("acme", "any-session")).toBe(access(1));
	});
});

describe("AuthStorage hot path", () => {
	it("a warm pinned fresh token costs one revision() and no other store call", async () => {
		const clock = manualClock();
		const plugin = fakeOAuthPlugin("acme", clock);
		const counted = countingStore(createMemoryStore({ clock }));
		for (const email of ["a@x.io", "b@x.io", "c@x.io"])
			await counted.store.rows.insert("acme", oauth(email, clock.now()));
		const storage = new AuthStorage(counted.store, { providers: [plugin], clock, env: {} });
		await storage.reload();
		const warm = await storage.getApiKey("acme", "hot-session");
		counted.reset();
		for (let i = 0; i < 1000; i += 1) expect(await storage.getApiKey("acme", "hot-session")).toBe(warm);
		expect(counted.writes()).toBe(0);
		expect(counted.reads()).toBe(0);
		expect(counted.counts["changes.revision"] ?? 0).toBeLessThanOrEqual(1000);
		expect(Object.keys(counted.counts).filter((key) => key !== "changes.revision")).toEqual([]);
		expect(plugin.refreshCalls).toBe(0);
	});

	it("a peer's rotation, addition and disable are seen on the next call without a refresh", async () => {
		const { storage, make, clock, plugin, store, backend } = setup();
		const a = await store.rows.insert("acme", oauth("a@x.io", clock.now()));
		await storage.reload();
		expect(await storage.getApiKey("acme", "s")).toBe("access-a@x.io-0");

		// Another "process" rotates the row.
		const peerStore = createMemoryStore({ clock, backend });
		const peer = make(peerStore);
		await peer.reload();
		await peerStore.rows.update(
			a.id,
			oauth("a@x.io", clock.now(), { access: "access-a-peer", refresh: "refresh-a-peer" }),
		);
		expect(await storage.getApiKey("acme", "s")).toBe("access-a-peer");

		// ... adds a row and disables ours.
		await peerStore.rows.insert("acme", oauth("b@x.io", clock.now()));
		expect(storage.listStoredCredentials("acme")).toHaveLength(1);
		await peerStore.rows.disable(a.id, "gone");
		expect(await storage.getApiKey("acme", "s")).toBe("access-b@x.io-0");
		expect(storage.listStoredCredentials("acme").map((row) => row.credential.type)).toEqual(["oauth"]);
		expect(plugin.refreshCalls).toBe(0);
	});
});
