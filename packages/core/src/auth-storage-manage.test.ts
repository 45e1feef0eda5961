import { describe, expect, it } from "vitest";
import { AuthStorage } from "./auth-storage";
import { fakeOAuthPlugin, manualClock, oauth } from "./auth-storage.test-utils";
import { createMemoryStore } from "./store/memory-store";
import type { AuthCredentialStore, StoreUpstream } from "./store/store";

function setup() {
	const clock = manualClock();
	const plugin = fakeOAuthPlugin("acme", clock);
	const store = createMemoryStore({ clock });
	const storage = new AuthStorage(store, { providers: [plugin], clock, env: {} });
	return { clock, plugin, store, storage };
}

/** The same store with upstream hooks recorded. */
function withUpstream(store: AuthCredentialStore, upstream: StoreUpstream): AuthCredentialStore {
	return new Proxy(store, {
		get: (target, property) => (property === "upstream" ? upstream : Reflect.get(target, property)),
	});
}

describe("credential management", () => {
	it("set replaces a provider's rows, collapsing duplicates of one account; getAll/list/has/get read memory", async () => {
		const { storage, store, clock } = setup();
		await storage.reload();
		await storage.set("acme", [
			oauth("a@x.io", clock.now(), { access: "first" }),
			oauth("a@x.io", clock.now(), { access: "second" }),
			oauth("b@x.io", clock.now()),
		]);
		await storage.set("plain", { type: "api_key", key: "k1" });
		expect(storage.list()).toEqual(["acme", "plain"]);
		expect(storage.has("acme")).toBe(true);
		expect(storage.get("plain")).toEqual({ type: "api_key", key: "k1" });
		const all = storage.getAll();
		expect(Array.isArray(all.acme)).toBe(true);
		expect((all.acme as { access: string }[]).map((c) => c.access)).toEqual(["second", "access-b@x.io-0"]);
		expect(await store.rows.listActive("acme")).toHaveLength(2);
		await storage.remove("acme");
		expect(storage.has("acme")).toBe(false);
		expect(await store.rows.listActive("acme")).toEqual([]);
		expect((await store.rows.listDisabled("acme")).every((row) => row.disabledCause === "deleted by user")).toBe(true);
	});

	it("login stores an OAuth account by identity, a string as an API key, and refuses plugins without login", async () => {
		const { storage, plugin, clock, store } = setup();
		await storage.reload();
		let next: string | { access: string; refresh: string; expires: number; email: string } = {
			access: "login-access",
			refresh: "login-refresh",
			expires: clock.now() + 3_600_000,
			email: "new@x.io",
		};
		plugin.oauth!.login = async (callbacks) => {
			callbacks.onAuth({ url: "https://example.invalid/auth" });
			return next;
		};
		const urls: string[] = [];
		await storage.login("acme", { onAuth: (info) => urls.push(info.url) });
		await storage.login("acme", { onAuth: () => {} });
		expect(urls).toEqual(["https://example.invalid/auth"]);
		expect(await store.rows.listActive("acme")).toHaveLength(1);
		expect(await storage.getApiKey("acme")).toBe("login-access");
		next = "typed-api-key";
		await storage.login("acme", { onAuth: () => {} });
		expect(storage.listStoredCredentials("acme").map((row) => row.credential.type)).toEqual(["oauth", "api_key"]);
		await expect(storage.login("unknown", { onAuth: () => {} })).rejects.toMatchObject({ code: "OAUTH_NOT_SUPPORTED" });
	});

	it("insertCredentialIfProviderAbsent seeds a provider once: concurrent seeds leave one row, a later one is refused", async () => {
		const { storage, store, clock } = setup();
		await storage.reload();
		const results = await Promise.all(
			["k1", "k2", "k3"].map((key) => storage.insertCredentialIfProviderAbsent("plain", { type: "api_key", key })),
		);
		expect(results.filter((result) => result.inserted)).toHaveLength(1);
		const [row] = await store.rows.listActive("plain");
		for (const result of results) expect(result.entries.map((entry) => entry.id)).toEqual([row!.id]);
		expect(storage.get("plain")).toEqual(row!.credential);
		// Any active row counts, of any type; the answer lists what is there.
		await storage.upsertCredential("acme", oauth("a@x.io", clock.now()));
		const refused = await storage.insertCredentialIfProviderAbsent("acme", { type: "api_key", key: "k4" });
		expect(refused.inserted).toBe(false);
		expect(refused.entries.map((entry) => entry.credential.type)).toEqual(["oauth"]);
		await expect(storage.insertCredentialIfProviderAbsent("plain", { type: "api_key", key: "" })).rejects.toMatchObject(
			{
				code: "INVALID_INPUT",
			},
		);
	});

	it("insertCredentialIfProviderAbsent on a store without the conditional insert: serialised when private, refused when shared", async () => {
		const { store, clock } = setup();
		const withoutConditional = (shared: boolean): AuthCredentialStore =>
			new Proxy(store, {
				get: (target, property) => {
					if (property === "rows") return { ...target.rows, insertIfProviderAbsent: undefined };
					if (property === "capabilities") return { ...target.capabilities, sharedAcrossInstances: shared };
					return Reflect.get(target, property);
				},
			});
		const private_ = new AuthStorage(withoutConditional(false), { clock, env: {} });
		const results = await Promise.all(
			["k1", "k2", "k3"].map((key) => private_.insertCredentialIfProviderAbsent("plain", { type: "api_key", key })),
		);
		expect(results.map((result) => result.inserted)).toEqual([true, false, false]);
		expect(await store.rows.listActive("plain")).toHaveLength(1);
		const shared = new AuthStorage(withoutConditional(true), { clock, env: {} });
		await expect(shared.insertCredentialIfProviderAbsent("other", { type: "api_key", key: "k" })).rejects.toMatchObject(
			{ code: "STORE_ERROR", message: expect.stringContaining("insertIfProviderAbsent") },
		);
		expect(await store.rows.listActive("other")).toEqual([]);
	});

	it("recordObservedUsage goes to the ledger as this install; listClientUsage sums it; a broker store gets it upstream", async () => {
		const { store, clock } = setup();
		const observed = {
			at: clock.now(),
			provider: "acme",
			model: "m",
			requests: 1,
			inputTokens: 7,
			outputTokens: 3,
			cacheReadTokens: 0,
			cacheWriteTokens: 0,
			costUsd: 0.25,
		};
		const a = new AuthStorage(store, { clock, env: {}, app: "ci" });
		const b = new AuthStorage(store, { clock, env: {} });
		expect(await a.recordObservedUsage([observed, observed])).toBe(true);
		expect(await b.recordObservedUsage(observed)).toBe(true);
		const [summary] = await a.listClientUsage();
		// One host, one default install id (a hash of the host name), whatever the instance.
		expect(summary).toMatchObject({ installId: expect.stringMatching(/^[0-9a-f]{16}$/), hostname: expect.any(String) });
		// Per provider, then app ("" before "ci").
		expect(summary!.providers).toEqual([
			{
				provider: "acme",
				requests: 1,
				inputTokens: 7,
				outputTokens: 3,
				cacheReadTokens: 0,
				cacheWriteTokens: 0,
				costUsd: 0.25,
			},
			{
				app: "ci",
				provider: "acme",
				requests: 2,
				inputTokens: 14,
				outputTokens: 6,
				cacheReadTokens: 0,
				cacheWriteTokens: 0,
				costUsd: 0.5,
			},
		]);
		await expect(a.recordObservedUsage({ ...observed, inputTokens: 1.5 })).rejects.toMatchObject({
			code: "INVALID_INPUT",
		});
		expect(() => new AuthStorage(store, { installId: "" })).toThrow(/installId/);

		const reports: unknown[] = [];
		const remote = new AuthStorage(
			withUpstream(store, { recordObservedUsage: async (report) => void reports.push(report) }),
			{ clock, env: {}, installId: "laptop-7" },
		);
		expect(await remote.recordObservedUsage(observed)).toBe(true);
		expect(reports).toEqual([{ installId: "laptop-7", hostname: expect.any(String), entries: [observed] }]);
		// Without a ledger that keeps client usage there is nowhere to put it.
		const { recordClientUsage: _r, listClientUsage: _l, ...ledger } = store.ledger!;
		const noLedger = new AuthStorage(
			new Proxy(store, { get: (t, p) => (p === "ledger" ? ledger : Reflect.get(t, p)) }),
			{ clock, env: {} },
		);
		expect(await noLedger.recordObservedUsage(observed)).toBe(false);
		expect(await noLedger.listClientUsage()).toEqual([]);
	});

	it("API keys: sessions stick, sessionless calls take turns", async () => {
		const { storage, store } = setup();
		for (const key of ["k1", "k2", "k3"]) await store.rows.insert("keys", { type: "api_key", key });
		await storage.reload();
		const sticky = await storage.getApiKey("keys", "s");
		for (let i = 0; i < 5; i += 1) expect(await storage.getApiKey("keys", "s")).toBe(sticky);
		const turns = [];
		for (let i = 0; i < 3; i += 1) turns.push(await storage.getApiKey("keys"));
		expect(new Set(turns).size).toBe(3);
	});

	it("OAuth access helpers expose identity and respect overrides", async () => {
		const { storage, store, clock } = setup();
		const a = await store.rows.insert("acme", oauth("a@x.io", clock.now(), { accountId: "acct-a" }));
		const b = await store.rows.insert("acme", oauth("b@x.io", clock.now(), { expires: clock.now() - 1 }));
		await storage.reload();
		expect(storage.listOAuthAccounts("acme")).toEqual([
			{ position: 0, credentialId: a.id, accountId: "acct-a", email: "a@x.io" },
			{ position: 1, credentialId: b.id, email: "b@x.io" },
		]);
		expect(await storage.getOAuthAccessAt("acme", 1)).toMatchObject({
			ok: true,
			credentialId: b.id,
			accessToken: "access-b@x.io-r1",
		});
		expect(await storage.getOAuthAccessAt("acme", 5)).toBeUndefined();
		const access = await storage.getOAuthAccess("acme", "s");
		expect(access?.accessToken).toMatch(/^access-/);
		storage.setRuntimeApiKey("acme", "override");
		expect(await storage.getOAuthAccess("acme", "s")).toBeUndefined();
		expect(storage.listOAuthAccounts("acme")).toEqual([]);
	});

	it("invalidateCredentialMatching blocks the matching row and tells the upstream; unknown keys are false", async () => {
		const clock = manualClock();
		const plugin = fakeOAuthPlugin("acme", clock);
		const suspects: number[] = [];
		const base = createMemoryStore({ clock });
		const store = withUpstream(base, {
			markCredentialSuspect: async (id) => {
				suspects.push(id);
			},
		});
		const a = await base.rows.insert("acme", oauth("a@x.io", clock.now()));
		await base.rows.insert("acme", oauth("b@x.io", clock.now()));
		const storage = new AuthStorage(store, { providers: [plugin], clock, env: {} });
		await storage.reload();
		expect(await storage.invalidateCredentialMatching("acme", "not-a-key")).toBe(false);
		expect(await storage.invalidateCredentialMatching("acme", "access-a@x.io-0", { sessionId: "s" })).toBe(true);
		expect(suspects).toEqual([a.id]);
		for (let i = 0; i < 3; i += 1) expect(await storage.getApiKey("acme")).toBe("access-b@x.io-0");
	});

	it("rotateSessionCredential after a hard 401 marks the row suspect, drops the pin and reports a sibling", async () => {
		const clock = manualClock();
		const plugin = fakeOAuthPlugin("acme", clock);
		const suspects: number[] = [];
		const base = createMemoryStore({ clock });
		const store = withUpstream(base, {
			markCredentialSuspect: async (id) => {
				suspects.push(id);
			},
		});
		await base.rows.insert("acme", oauth("a@x.io", clock.now()));
		await base.rows.insert("acme", oauth("b@x.io", clock.now()));
		const storage = new AuthStorage(store, { providers: [plugin], clock, env: {} });
		await storage.reload();
		const first = await storage.getApiKey("acme", "s");
		const error = Object.assign(new Error("401 invalid bearer"), { status: 401 });
		expect(await storage.rotateSessionCredential("acme", "s", { error })).toBe(true);
		expect(suspects).toHaveLength(1);
		expect(await storage.getApiKey("acme", "s")).not.toBe(first);
		expect(await storage.rotateSessionCredential("acme", "unknown-session", { error })).toBe(false);
	});

	it("awaits upstream.prepareForRequest before handing out a token and adopts a moved snapshot", async () => {
		const clock = manualClock();
		const plugin = fakeOAuthPlugin("acme", clock);
		const base = createMemoryStore({ clock });
		const row = await base.rows.insert("acme", oauth("a@x.io", clock.now()));
		const prepared: number[] = [];
		let move = false;
		const store = withUpstream(base, {
			prepareForRequest: async (id) => {
				prepared.push(id);
				if (!move) return false;
				move = false;
				await base.rows.update(id, oauth("a@x.io", clock.now(), { access: "rotated-by-broker" }));
				return true;
			},
		});
		const storage = new AuthStorage(store, { providers: [plugin], clock, env: {} });
		await storage.reload();
		expect(await storage.getApiKey("acme", "s")).toBe("access-a@x.io-0");
		move = true;
		expect(await storage.getApiKey("acme", "s")).toBe("rotated-by-broker");
		expect(prepared).toEqual([row.id, row.id]);
	});

	it("validates options", () => {
		const store = createMemoryStore();
		expect(() => new AuthStorage(store, { clock: { now: 5 } as never })).toThrow(/clock/);
		expect(() => new AuthStorage(store, { maxSessions: 0 })).toThrow(
			expect.objectContaining({ code: "INVALID_OPTIONS" }),
		);
		expect(() => new AuthStorage({} as AuthCredentialStore)).toThrow(/AuthCredentialStore/);
	});

	it("!command config values run only when the host opts in", async () => {
		const store = createMemoryStore();
		const strict = new AuthStorage(store, { env: {} });
		strict.setConfigApiKey("acme", "!echo from-command");
		expect(await strict.getApiKey("acme")).toBe("!echo from-command");
		const opted = new AuthStorage(store, { env: {}, allowCommandConfigValues: true });
		opted.setConfigApiKey("acme", "!echo from-command");
		expect(await opted.getApiKey("acme")).toBe("from-command");
	});

	it("checkCredentials reports ok: null without a usage probe; usage helpers work without a ledger entry", async () => {
		const { storage, store, clock } = setup();
		const row = await store.rows.insert("acme", oauth("a@x.io", clock.now()));
		await storage.reload();
		const results = await storage.checkCredentials();
		expect(results).toMatchObject([{ id: row.id, provider: "acme", ok: null }]);
		expect(results[0]!.reason).toBeTruthy();
		await storage.getApiKey("acme", "s");
		expect(await storage.recordUsageCost("acme", 0.25, { sessionId: "s" })).toBe(true);
		expect(await storage.recordUsageCost("acme", -1, { sessionId: "s" })).toBe(false);
		expect(await storage.listUsageHistory()).toEqual([]);
		expect(await storage.fetchUsageReports()).toEqual([]);
	});

	it("reset credits: listed per account, redeeming one lifts that row's blocks", async () => {
		const { storage, store, clock, plugin } = setup();
		const redeemed: Array<{ creditId: string; requestId?: string; access: string }> = [];
		plugin.resetCredits = {
			list: async (credential) => ({
				availableCount: credential.email === "a@x.io" ? 1 : 0,
				credits: credential.email === "a@x.io" ? [{ id: "credit-1", status: "available" }] : [],
			}),
			redeem: async (credential, creditId, ctx) => {
				redeemed.push({ creditId, requestId: ctx.requestId, access: credential.access });
				return { ok: true, code: "reset" };
			},
		};
		const a = await store.rows.insert("acme", oauth("a@x.io", clock.now()));
		await store.rows.insert("acme", oauth("b@x.io", clock.now()));
		await storage.reload();
		await storage.getApiKey("acme", "s");
		await storage.markUsageLimitReached("acme", "s", { retryAfterMs: 3_600_000 });
		const listed = await storage.listResetCredits({ provider: "acme", sessionId: "s" });
		expect(listed.map((entry) => [entry.email, entry.availableCount])).toEqual([
			["a@x.io", 1],
			["b@x.io", 0],
		]);
		expect(listed.filter((entry) => entry.active)).toHaveLength(1);
		const blockedId = (await store.blocks.list())[0]!.credentialId;
		const target = blockedId === a.id ? { email: "a@x.io" } : { email: "b@x.io" };
		const outcome = await storage.redeemResetCredit({ provider: "acme", target, creditId: "credit-1" });
		expect(outcome).toMatchObject({ ok: true, code: "reset", creditId: "credit-1" });
		expect(redeemed[0]!.requestId).toBeTruthy();
		expect(await store.blocks.list()).toEqual([]);
		expect(await storage.redeemResetCredit({ provider: "acme", target: { email: "nobody@x.io" } })).toMatchObject({
			ok: false,
			code: "no_account",
		});
	});
});
