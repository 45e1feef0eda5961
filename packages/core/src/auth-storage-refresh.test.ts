import { describe, expect, it } from "vitest";
import { AuthStorage } from "./auth-storage";
import { fakeOAuthPlugin, manualClock, oauth } from "./auth-storage.test-utils";
import { OAuthRefreshError } from "./errors";
import type { CredentialDisabledEvent } from "./pool/events";
import { createMemoryStore, createMemoryStoreBackend } from "./store/memory-store";
import { REMOTE_REFRESH_SENTINEL } from "./types";

function setup() {
	const clock = manualClock();
	const plugin = fakeOAuthPlugin("acme", clock);
	const backend = createMemoryStoreBackend();
	const store = createMemoryStore({ clock, backend });
	const events: CredentialDisabledEvent[] = [];
	const make = (owner: string) =>
		new AuthStorage(createMemoryStore({ clock, backend }), {
			providers: [plugin],
			clock,
			env: {},
			owner,
			onCredentialDisabled: (event) => {
				events.push(event);
			},
		});
	return { clock, plugin, store, events, make, storage: make("one") };
}

describe("AuthStorage OAuth refresh", () => {
	it("a forced refresh after a 401 adopts the token a peer already stored instead of refreshing again", async () => {
		const { store, clock, plugin, make } = setup();
		await store.rows.insert("acme", oauth("a@x.io", clock.now()));
		const mine = make("mine");
		const peer = make("peer");
		await mine.reload();
		await peer.reload();
		const resolve = mine.resolver("acme", { sessionId: "s1" });
		const handed = await resolve();
		expect(handed).toBe("access-a@x.io-0");
		// The peer saw the same 401 first and refreshed; this pool noticed the new row on its change check.
		expect(await peer.getApiKey("acme", "s2", { forceRefresh: true })).toBe("access-a@x.io-r1");
		expect(plugin.refreshCalls).toBe(1);
		const retried = await resolve({
			error: Object.assign(new Error("unauthorized"), { status: 401 }),
			lastChance: false,
		});
		expect(retried).toBe("access-a@x.io-r1");
		expect(plugin.refreshCalls).toBe(1);
		// Rejected again: now it really is the stored token that is bad, so it is re-minted.
		expect(await resolve({ error: Object.assign(new Error("unauthorized"), { status: 401 }), lastChance: false })).toBe(
			"access-a@x.io-r2",
		);
		expect(plugin.refreshCalls).toBe(2);
	});

	it("refreshes inside the skew window: 60 s by default, `refreshSkewMs` when set", async () => {
		const { store, clock, plugin } = setup();
		await store.rows.insert("acme", oauth("a@x.io", clock.now(), { expires: clock.now() + 30_000 }));
		const tight = new AuthStorage(store, { providers: [plugin], clock, env: {}, refreshSkewMs: 1_000 });
		await tight.reload();
		expect(await tight.getApiKey("acme", "s")).toBe("access-a@x.io-0");
		expect(plugin.refreshCalls).toBe(0);
		const standard = new AuthStorage(store, { providers: [plugin], clock, env: {} });
		await standard.reload();
		expect(await standard.getApiKey("acme", "s")).toBe("access-a@x.io-r1");
		expect(plugin.refreshCalls).toBe(1);
		expect(() => new AuthStorage(store, { refreshSkewMs: -1 })).toThrow(/refreshSkewMs/);
	});

	it("1,000 concurrent getApiKey on one expired row → exactly one refresh, everyone gets the new token", async () => {
		const { storage, store, clock, plugin } = setup();
		await store.rows.insert("acme", oauth("a@x.io", clock.now(), { expires: clock.now() - 1 }));
		await storage.reload();
		const keys = await Promise.all(
			Array.from({ length: 1000 }, (_, i) => storage.getApiKey("acme", i % 2 === 0 ? `s-${i}` : undefined)),
		);
		expect(plugin.refreshCalls).toBe(1);
		expect(new Set(keys)).toEqual(new Set(["access-a@x.io-r1"]));
		const [row] = await store.rows.listActive("acme");
		expect(row!.credential).toMatchObject({ access: "access-a@x.io-r1", refresh: "refresh-a@x.io-r1" });
	});

	it("two AuthStorage on one store: a row the other rotated is adopted without a refresh call", async () => {
		const { store, clock, plugin, make } = setup();
		await store.rows.insert("acme", oauth("a@x.io", clock.now(), { expires: clock.now() + 2 * 60_000 }));
		const first = make("one");
		const second = make("two");
		await first.reload();
		await second.reload();
		expect(await second.getApiKey("acme", "s2")).toBe("access-a@x.io-0");
		clock.advance(90_000); // inside the refresh skew: both would refresh
		expect(await first.getApiKey("acme", "s1")).toBe("access-a@x.io-r1");
		expect(await second.getApiKey("acme", "s2")).toBe("access-a@x.io-r1");
		expect(plugin.refreshCalls).toBe(1);
	});

	it("a definitive failure after the other instance rotated the row disables nothing", async () => {
		const { store, clock, plugin, make, events } = setup();
		const row = await store.rows.insert("acme", oauth("a@x.io", clock.now(), { expires: clock.now() - 1 }));
		const first = make("one");
		const second = make("two");
		await first.reload();
		await second.reload();
		// The peer rotates while our upstream call is in flight; ours then answers invalid_grant.
		plugin.refreshImpl = async (_credential) => {
			await store.rows.update(row.id, oauth("a@x.io", clock.now(), { access: "access-peer", refresh: "refresh-peer" }));
			throw new OAuthRefreshError("acme refresh failed: invalid_grant", {
				provider: "acme",
				definitive: true,
				errorCode: "invalid_grant",
			});
		};
		expect(await first.getApiKey("acme", "s1")).toBe("access-peer");
		expect(await store.rows.listActive("acme")).toHaveLength(1);
		expect(events).toEqual([]);
		expect(await second.getApiKey("acme")).toBe("access-peer");
	});

	it("a genuine invalid_grant disables by CAS and fires exactly one event", async () => {
		const { storage, store, clock, plugin, events } = setup();
		const dead = await store.rows.insert("acme", oauth("dead@x.io", clock.now(), { expires: clock.now() - 1 }));
		await store.rows.insert("acme", oauth("live@x.io", clock.now()));
		await storage.reload();
		plugin.refreshImpl = async () => {
			throw new Error("400 invalid_grant: refresh token revoked");
		};
		const keys = await Promise.all(Array.from({ length: 20 }, () => storage.getApiKey("acme")));
		expect(new Set(keys)).toEqual(new Set(["access-live@x.io-0"]));
		expect(plugin.refreshCalls).toBe(1);
		const disabled = await store.rows.listDisabled("acme");
		expect(disabled.map((row) => row.id)).toEqual([dead.id]);
		expect(disabled[0]!.disabledCause).toMatch(/invalid_grant/);
		expect(events).toHaveLength(1);
		expect(events[0]).toMatchObject({ type: "credential_disabled", provider: "acme", credentialId: dead.id });
		expect(JSON.stringify(events)).not.toContain("refresh-dead");
		expect(storage.listStoredCredentials("acme").map((row) => row.id)).not.toContain(dead.id);
	});

	it("a transient failure disables nothing and blocks the row (siblings serve meanwhile)", async () => {
		const { storage, store, clock, plugin, events } = setup();
		const flaky = await store.rows.insert("acme", oauth("flaky@x.io", clock.now(), { expires: clock.now() - 1 }));
		await store.rows.insert("acme", oauth("ok@x.io", clock.now()));
		await storage.reload();
		plugin.refreshImpl = async () => {
			throw new OAuthRefreshError("acme token endpoint 503", { provider: "acme", definitive: false, status: 503 });
		};
		for (let i = 0; i < 4; i += 1) expect(await storage.getApiKey("acme")).toBe("access-ok@x.io-0");
		expect(plugin.refreshCalls).toBe(1);
		expect(await store.rows.listDisabled("acme")).toEqual([]);
		expect(events).toEqual([]);
		const blocks = await store.blocks.list({ credentialId: flaky.id });
		expect(blocks).toHaveLength(1);
		expect(blocks[0]!.blockedUntil).toBeGreaterThan(clock.now());
	});

	it("a refresh of row B while row A is disabled mid-flight lands on B by id", async () => {
		const { storage, store, clock, plugin } = setup();
		const a = await store.rows.insert("acme", oauth("a@x.io", clock.now()));
		const b = await store.rows.insert("acme", oauth("b@x.io", clock.now(), { expires: clock.now() - 1 }));
		await storage.reload();
		const real = plugin.refreshImpl;
		plugin.refreshImpl = async (credential) => {
			await store.rows.disable(a.id, "removed meanwhile");
			return real(credential);
		};
		// Force B: a session whose hash start is B, or simply ask for every account.
		const accesses = await storage.getOAuthAccesses("acme");
		const forB = accesses.find((access) => access.credentialId === b.id)!;
		expect(forB).toMatchObject({ ok: true, accessToken: "access-b@x.io-r1" });
		expect((await store.rows.get(b.id))!.credential).toMatchObject({ access: "access-b@x.io-r1" });
		expect((await store.rows.get(a.id))!.credential).toMatchObject({ access: "access-a@x.io-0" });
	});

	it("one caller's abort rejects only that caller", async () => {
		const { storage, store, clock, plugin } = setup();
		await store.rows.insert("acme", oauth("a@x.io", clock.now(), { expires: clock.now() - 1 }));
		await storage.reload();
		let release!: () => void;
		const gate = new Promise<void>((resolve) => {
			release = resolve;
		});
		const real = plugin.refreshImpl;
		plugin.refreshImpl = async (credential) => {
			await gate;
			return real(credential);
		};
		const controller = new AbortController();
		const aborted = storage.getApiKey("acme", "s1", { signal: controller.signal });
		const patient = storage.getApiKey("acme", "s2");
		controller.abort();
		await expect(aborted).rejects.toMatchObject({ code: "ABORTED" });
		release();
		expect(await patient).toBe("access-a@x.io-r1");
		expect(plugin.refreshCalls).toBe(1);
	});

	it("a remote authority's refresh result is kept: the store's hook is asked once, not on every request", async () => {
		const clock = manualClock();
		const inner = createMemoryStore({ clock });
		let hookCalls = 0;
		const store = Object.assign(Object.create(null), inner, {
			kind: inner.kind,
			capabilities: inner.capabilities,
			rows: inner.rows,
			cache: inner.cache,
			blocks: inner.blocks,
			changes: inner.changes,
			close: () => inner.close(),
			upstream: {
				async refreshOAuthCredential(_provider: string, _id: number, credential: { access: string }) {
					hookCalls += 1;
					return {
						...credential,
						type: "oauth",
						access: `remote-${hookCalls}`,
						refresh: REMOTE_REFRESH_SENTINEL,
						expires: clock.now() + 3_600_000,
					};
				},
			},
		});
		await inner.rows.insert(
			"acme",
			oauth("a@x.io", clock.now(), { refresh: REMOTE_REFRESH_SENTINEL, expires: clock.now() - 1 }),
		);
		const storage = new AuthStorage(store, { providers: [fakeOAuthPlugin("acme", clock)], clock, env: {} });
		await storage.reload();
		for (let i = 0; i < 5; i += 1) expect(await storage.getApiKey("acme", "s1")).toBe("remote-1");
		expect(hookCalls).toBe(1);
		expect((await inner.rows.listDisabled()).length).toBe(0);
	});

	it("refreshCredentialById forces a refresh and returns a redacted entry", async () => {
		const { storage, store, clock, plugin } = setup();
		const row = await store.rows.insert("acme", oauth("a@x.io", clock.now()));
		await storage.reload();
		const entry = await storage.refreshCredentialById(row.id);
		expect(plugin.refreshCalls).toBe(1);
		expect(entry).toMatchObject({ id: row.id, provider: "acme" });
		expect(entry.credential).toMatchObject({ access: "access-a@x.io-r1", refresh: REMOTE_REFRESH_SENTINEL });
		await expect(storage.refreshCredentialById(9999)).rejects.toMatchObject({ code: "NOT_FOUND" });
	});

	it("exportSnapshot never contains a refresh token and includes identity keys and live blocks", async () => {
		const { storage, store, clock } = setup();
		await store.rows.insert("acme", oauth("a@x.io", clock.now()));
		await store.rows.insert("acme", oauth("b@x.io", clock.now()));
		await store.rows.insert("other", { type: "api_key", key: "sk-plain" });
		await storage.reload();
		await storage.getApiKey("acme", "s");
		await storage.markUsageLimitReached("acme", "s", { retryAfterMs: 120_000 });
		const snapshot = storage.exportSnapshot();
		const text = JSON.stringify(snapshot);
		expect(text).not.toMatch(/refresh-[ab]@x\.io/);
		expect(snapshot.credentials).toHaveLength(3);
		for (const entry of snapshot.credentials.filter((e) => e.credential.type === "oauth")) {
			expect(entry.credential).toMatchObject({ refresh: REMOTE_REFRESH_SENTINEL });
			expect(entry.identityKey).toMatch(/^email:/);
		}
		const blocked = snapshot.credentials.filter((entry) => entry.blocks.length > 0);
		expect(blocked).toHaveLength(1);
		expect(blocked[0]!.blocks[0]).toMatchObject({ providerKey: "acme:oauth", blockedUntilMs: clock.now() + 120_000 });
		clock.advance(121_000);
		expect(storage.exportSnapshot().credentials.every((entry) => entry.blocks.length === 0)).toBe(true);
	});

	it("reload prunes duplicate accounts (newest kept) and bumps the generation", async () => {
		const { storage, store, clock } = setup();
		const older = await store.rows.insert("acme", oauth("a@x.io", clock.now(), { access: "old" }));
		const newer = await store.rows.insert("acme", oauth("a@x.io", clock.now(), { access: "new" }));
		const generations: number[] = [];
		storage.onGenerationChanged((generation) => generations.push(generation));
		const before = storage.getGeneration();
		await storage.reload();
		expect(storage.listStoredCredentials("acme").map((row) => row.id)).toEqual([newer.id]);
		// A lifecycle replacement is hard-deleted: no tombstone is left behind.
		expect(await store.rows.get(older.id)).toBeNull();
		expect(await store.rows.listDisabled("acme")).toEqual([]);
		expect(storage.getGeneration()).toBeGreaterThan(before);
		expect(generations.at(-1)).toBe(storage.getGeneration());
		expect(await storage.getApiKey("acme")).toBe("new");
	});

	it("disableCredentialById emits an event and drops the row; upsertCredential replaces by identity", async () => {
		const { storage, store, clock, events } = setup();
		const row = await store.rows.insert("acme", oauth("a@x.io", clock.now()));
		await storage.reload();
		const entries = await storage.upsertCredential("acme", oauth("a@x.io", clock.now(), { access: "again" }));
		expect(entries.map((entry) => entry.id)).toEqual([row.id]);
		expect(entries[0]!.credential).toMatchObject({ access: "again", refresh: REMOTE_REFRESH_SENTINEL });
		expect(await storage.disableCredentialById(row.id, "revoked by admin")).toBe(true);
		expect(events).toMatchObject([{ credentialId: row.id, disabledCause: "revoked by admin" }]);
		expect(storage.has("acme")).toBe(false);
		expect(await storage.disableCredentialById(row.id, "again")).toBe(false);
	});

	it("disableCredentialById with expectedVersion loses to a peer's write; listDisabledCredentials reads tombstones", async () => {
		const { storage, store, clock } = setup();
		const row = await store.rows.insert("acme", oauth("a@x.io", clock.now()));
		await storage.reload();
		await store.rows.update(row.id, oauth("a@x.io", clock.now(), { access: "rotated by a peer" }));
		expect(await storage.disableCredentialById(row.id, "stale view", { expectedVersion: row.version })).toBe(false);
		expect(await store.rows.listDisabled()).toEqual([]);
		const current = await store.rows.get(row.id);
		expect(await storage.disableCredentialById(row.id, "fresh view", { expectedVersion: current!.version })).toBe(true);
		expect((await storage.listDisabledCredentials("acme")).map((r) => [r.credentialId, r.disabledCause])).toEqual([
			[row.id, "fresh view"],
		]);
		expect(await storage.listDisabledCredentials("other")).toEqual([]);
	});

	it("blockCredentialById max-merges and shows in the snapshot; unblockCredentialById lifts every scope", async () => {
		const { storage, store, clock } = setup();
		const row = await store.rows.insert("acme", oauth("a@x.io", clock.now()));
		await storage.reload();
		const until = clock.now() + 60_000;
		expect(await storage.blockCredentialById(row.id, { providerKey: "acme:oauth", blockedUntil: until })).toBe(until);
		expect(await storage.blockCredentialById(row.id, { providerKey: "acme:oauth", blockedUntil: until - 30_000 })).toBe(
			until,
		);
		await storage.blockCredentialById(row.id, { providerKey: "acme:oauth", scope: "chat", blockedUntil: until });
		expect(storage.exportSnapshot().credentials[0]!.blocks.map((b) => b.blockScope)).toEqual(["", "chat"]);
		expect(await store.blocks.list({ credentialId: row.id })).toHaveLength(2);
		expect(await storage.blockCredentialById(999, { providerKey: "acme:oauth", blockedUntil: until })).toBeNull();
		expect(await storage.unblockCredentialById(row.id)).toBe(true);
		expect(storage.exportSnapshot().credentials[0]!.blocks).toEqual([]);
		expect(await store.blocks.list({ credentialId: row.id })).toEqual([]);
		expect(await storage.unblockCredentialById(999)).toBe(false);
	});

	it("a hanging token endpoint: callers get a sibling after one bounded wait; the request runs on, nothing is disabled", async () => {
		const clock = manualClock();
		const plugin = fakeOAuthPlugin("acme", clock);
		plugin.refreshImpl = () => new Promise(() => {});
		const store = createMemoryStore({ clock });
		const hung = await store.rows.insert("acme", oauth("hung@x.io", clock.now(), { expires: clock.now() - 1 }));
		await store.rows.insert("acme", oauth("ok@x.io", clock.now()));
		const storage = new AuthStorage(store, { providers: [plugin], clock, env: {}, refreshTimeoutMs: 30 });
		await storage.reload();
		const keys = new Set<string | undefined>();
		for (let i = 0; i < 3; i += 1) keys.add(await storage.getApiKey("acme"));
		expect(keys).toEqual(new Set(["access-ok@x.io-0"]));
		expect(plugin.refreshCalls).toBe(1);
		expect(await store.rows.listDisabled()).toEqual([]);
		// The hung row's lease is held by the request still in flight: no peer may send its token meanwhile.
		expect((await store.leases?.get(hung.id))?.owner).toBeDefined();
	});
});
