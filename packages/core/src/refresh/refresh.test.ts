import { describe, expect, it, vi } from "vitest";
import { AuthpoolError, OAuthRefreshError } from "../errors";
import { createProviderRegistry, type OAuthRefreshResult, type PluginContext, type ProviderPlugin } from "../plugin";
import { createMemoryStore } from "../store/memory-store";
import type { AuthCredentialStore } from "../store/store";
import { type Logger, type OAuthCredential, type StoredAuthCredential, silentLogger } from "../types";
import { mergeOAuthRefreshResult, OAuthRefresher, type OAuthRefresherOptions } from "./refresh";

const HOUR = 3_600_000;
const PROVIDER = "acme";

function deferred<T = void>() {
	let resolve!: (value: T) => void;
	let reject!: (error: unknown) => void;
	const promise = new Promise<T>((res, rej) => {
		resolve = res;
		reject = rej;
	});
	return { promise, resolve, reject };
}

function testClock(start = 1_700_000_000_000) {
	let now = start;
	return {
		now: () => now,
		advance(ms: number) {
			now += ms;
		},
	};
}

type Clock = ReturnType<typeof testClock>;

/**
 * An in-memory token endpoint that rotates the refresh token on every use and rejects a reused or
 * revoked one with invalid_grant, like the real providers do.
 */
function rotatingProvider(clock: Clock, initialRefresh = "ref-0") {
	const valid = new Set([initialRefresh]);
	const calls: { refresh: string; signal: AbortSignal }[] = [];
	let issued = 0;
	const state = {
		gate: undefined as Promise<void> | undefined,
		entered: deferred(),
		/** Replace the outcome of the next calls (after the gate). */
		fail: undefined as (() => unknown) | undefined,
		extra: {} as Record<string, unknown>,
	};
	const plugin: ProviderPlugin = {
		id: PROVIDER,
		oauth: {
			rotatesRefreshToken: true,
			async refresh(credential: OAuthCredential, ctx: PluginContext): Promise<OAuthRefreshResult> {
				calls.push({ refresh: credential.refresh, signal: ctx.signal });
				state.entered.resolve();
				if (state.gate) await state.gate;
				if (state.fail) throw state.fail();
				if (!valid.has(credential.refresh)) {
					throw new OAuthRefreshError("acme token refresh failed: HTTP 400 (invalid_grant)", {
						provider: PROVIDER,
						definitive: true,
						status: 400,
						errorCode: "invalid_grant",
					});
				}
				valid.delete(credential.refresh);
				issued += 1;
				const refresh = `ref-${issued}`;
				valid.add(refresh);
				return { access: `acc-${issued}`, refresh, expires: clock.now() + HOUR, ...state.extra };
			},
		},
	};
	return {
		plugin,
		calls,
		state,
		/** Mint a grant the provider accepts (as if another process had rotated it). */
		mint(refresh: string) {
			valid.add(refresh);
		},
		revoke(refresh: string) {
			valid.delete(refresh);
		},
	};
}

function recordingLogger() {
	const lines: unknown[] = [];
	const log =
		(level: string) =>
		(message: string, fields?: Record<string, unknown>): void => {
			lines.push([level, message, fields]);
		};
	const logger: Logger = { debug: log("debug"), info: log("info"), warn: log("warn"), error: log("error") };
	return { logger, lines };
}

/** Counts every method call on every part of a store. */
function countingStore(inner: AuthCredentialStore) {
	const counter = { calls: 0, names: [] as string[] };
	const wrap = <T extends object>(part: T, name: string): T =>
		new Proxy(part, {
			get(target, property, receiver) {
				const value = Reflect.get(target, property, receiver);
				if (typeof value !== "function") return value;
				return (...args: unknown[]) => {
					counter.calls += 1;
					counter.names.push(`${name}.${String(property)}`);
					return (value as (...a: unknown[]) => unknown).apply(target, args);
				};
			},
		});
	const store: AuthCredentialStore = {
		kind: inner.kind,
		capabilities: inner.capabilities,
		rows: wrap(inner.rows, "rows"),
		cache: wrap(inner.cache, "cache"),
		blocks: wrap(inner.blocks, "blocks"),
		changes: wrap(inner.changes, "changes"),
		...(inner.leases ? { leases: wrap(inner.leases, "leases") } : {}),
		close: () => inner.close(),
	};
	return { store, counter };
}

interface Setup {
	clock: Clock;
	store: AuthCredentialStore;
	provider: ReturnType<typeof rotatingProvider>;
	refresher: OAuthRefresher;
	row: StoredAuthCredential;
	events: {
		updated: StoredAuthCredential[];
		disabled: { row: StoredAuthCredential; cause: string; error: unknown }[];
		transient: { row: StoredAuthCredential; until: number; error: unknown }[];
		gone: number[];
	};
	lines: unknown[];
}

async function setup(
	options: {
		store?: AuthCredentialStore;
		clock?: Clock;
		plugins?: ProviderPlugin[];
		credential?: Partial<OAuthCredential>;
		refresher?: Partial<OAuthRefresherOptions>;
	} = {},
): Promise<Setup> {
	const clock = options.clock ?? testClock();
	const store = options.store ?? createMemoryStore({ clock });
	const provider = rotatingProvider(clock, options.credential?.refresh ?? "ref-0");
	const { logger, lines } = recordingLogger();
	const events: Setup["events"] = { updated: [], disabled: [], transient: [], gone: [] };
	const refresher = new OAuthRefresher({
		store,
		registry: createProviderRegistry(options.plugins ?? [provider.plugin]),
		fetch: () => Promise.reject(new Error("no network in tests")),
		clock,
		logger,
		env: {},
		owner: "owner-a",
		onRowUpdated: (row) => events.updated.push(row),
		onRowDisabled: (row, cause, error) => events.disabled.push({ row, cause, error }),
		onTransientFailure: (row, until, error) => events.transient.push({ row, until, error }),
		onRowGone: (id) => events.gone.push(id),
		...options.refresher,
	});
	const row = await store.rows.insert(PROVIDER, {
		type: "oauth",
		access: "acc-0",
		refresh: "ref-0",
		expires: clock.now() - 1,
		...options.credential,
	});
	return { clock, store, provider, refresher, row, events, lines };
}

function oauth(row: StoredAuthCredential): OAuthCredential {
	if (row.credential.type !== "oauth") throw new Error("expected an oauth row");
	return row.credential;
}

async function storedCredential(store: AuthCredentialStore, id: number): Promise<OAuthCredential> {
	const row = await store.rows.get(id);
	if (row?.credential.type !== "oauth") throw new Error("expected an oauth row");
	return row.credential;
}

describe("OAuthRefresher hot path", () => {
	it("returns a fresh row as is without touching the store or the provider", async () => {
		const clock = testClock();
		const counted = countingStore(createMemoryStore({ clock }));
		const t = await setup({ clock, store: counted.store, credential: { expires: clock.now() + HOUR } });
		counted.counter.calls = 0;

		const result = await t.refresher.ensureFresh(t.row);

		expect(result).toBe(t.row);
		expect(counted.counter.calls).toBe(0);
		expect(t.provider.calls).toHaveLength(0);
		expect(t.events.updated).toHaveLength(0);
	});

	it("treats a token inside the skew window as stale", async () => {
		const t = await setup({ refresher: { skewMs: 60_000 } });
		const nearlyExpired = { ...t.row, credential: { ...(t.row.credential as OAuthCredential) } };
		nearlyExpired.credential.expires = t.clock.now() + 59_000;
		expect(t.refresher.isFresh(nearlyExpired.credential)).toBe(false);
		nearlyExpired.credential.expires = t.clock.now() + 61_000;
		expect(t.refresher.isFresh(nearlyExpired.credential)).toBe(true);
	});

	it("hands an API key row back untouched", async () => {
		const t = await setup();
		const keyRow = await t.store.rows.insert(PROVIDER, { type: "api_key", key: "sk-test-key-123" });
		expect(await t.refresher.ensureFresh(keyRow, { force: true })).toBe(keyRow);
		expect(t.provider.calls).toHaveLength(0);
	});
});

describe("OAuthRefresher single-flight", () => {
	it("1,000 concurrent callers of one expired row share exactly one upstream refresh", async () => {
		const t = await setup();
		const gate = deferred();
		t.provider.state.gate = gate.promise;

		const callers = Array.from({ length: 1000 }, () => t.refresher.ensureFresh(t.row));
		await t.provider.state.entered.promise;
		expect(t.refresher.inFlight).toBe(1);
		gate.resolve();
		const results = await Promise.all(callers);

		expect(t.provider.calls).toHaveLength(1);
		expect(new Set(results.map((row) => (row.credential as OAuthCredential).access))).toEqual(new Set(["acc-1"]));
		expect(await storedCredential(t.store, t.row.id)).toMatchObject({ access: "acc-1", refresh: "ref-1" });
		expect(t.events.updated).toHaveLength(1);
		expect(t.refresher.inFlight).toBe(0);
	});

	it("force refreshes a fresh row, and a forced call joins an in-flight refresh", async () => {
		const t = await setup({ credential: { expires: testClock().now() + HOUR } });
		const gate = deferred();
		t.provider.state.gate = gate.promise;

		const first = t.refresher.ensureFresh(t.row, { force: true });
		await t.provider.state.entered.promise;
		const second = t.refresher.ensureFresh(t.row, { force: true });
		gate.resolve();

		const [a, b] = await Promise.all([first, second]);
		expect(t.provider.calls).toHaveLength(1);
		expect((a.credential as OAuthCredential).access).toBe("acc-1");
		expect(b).toBe(a);
	});

	it("starts a new refresh once the previous flight has settled", async () => {
		const t = await setup();
		const first = await t.refresher.ensureFresh(t.row);
		t.clock.advance(2 * HOUR);
		const second = await t.refresher.ensureFresh(first);
		expect(t.provider.calls.map((call) => call.refresh)).toEqual(["ref-0", "ref-1"]);
		expect((second.credential as OAuthCredential).refresh).toBe("ref-2");
	});
});

describe("OAuthRefresher re-read before refreshing", () => {
	it("adopts a newer fresh row from the store instead of calling the provider", async () => {
		const t = await setup();
		const peer = await t.store.rows.update(t.row.id, {
			type: "oauth",
			access: "acc-peer",
			refresh: "ref-peer",
			expires: t.clock.now() + HOUR,
		});

		const result = await t.refresher.ensureFresh(t.row);

		expect(t.provider.calls).toHaveLength(0);
		expect(result.version).toBe(peer?.version);
		expect((result.credential as OAuthCredential).access).toBe("acc-peer");
		expect(t.events.updated.map((row) => row.version)).toEqual([peer?.version]);
	});

	it("a forced refresh still adopts a peer's newer token instead of minting another", async () => {
		const t = await setup({ credential: { expires: testClock().now() + HOUR } });
		await t.store.rows.update(t.row.id, {
			type: "oauth",
			access: "acc-peer",
			refresh: "ref-peer",
			expires: t.clock.now() + HOUR,
		});
		const result = await t.refresher.ensureFresh(t.row, { force: true });
		expect(t.provider.calls).toHaveLength(0);
		expect((result.credential as OAuthCredential).access).toBe("acc-peer");
	});

	it("refreshes with the newer row's refresh token when the newer row is stale too", async () => {
		const t = await setup();
		t.provider.mint("ref-peer");
		await t.store.rows.update(t.row.id, {
			type: "oauth",
			access: "acc-peer",
			refresh: "ref-peer",
			expires: t.clock.now() - 1,
		});
		const result = await t.refresher.ensureFresh(t.row);
		expect(t.provider.calls.map((call) => call.refresh)).toEqual(["ref-peer"]);
		expect((result.credential as OAuthCredential).access).toBe("acc-1");
	});

	it("a disabled row is reported gone and never refreshed", async () => {
		const t = await setup();
		await t.store.rows.disable(t.row.id, "deleted by user");

		const error = await t.refresher.ensureFresh(t.row).catch((e: unknown) => e);

		expect(AuthpoolError.isInstance(error) && error.code).toBe("NO_CREDENTIAL");
		expect(t.events.gone).toEqual([t.row.id]);
		expect(t.provider.calls).toHaveLength(0);
	});

	it("a provider without OAuth support fails with OAUTH_NOT_SUPPORTED", async () => {
		const t = await setup({ plugins: [{ id: PROVIDER }] });
		const error = await t.refresher.ensureFresh(t.row).catch((e: unknown) => e);
		expect(AuthpoolError.isInstance(error) && error.code).toBe("OAUTH_NOT_SUPPORTED");
	});

	it("prefers the store's upstream hook over the plugin and does not re-persist its result", async () => {
		const clock = testClock();
		const inner = createMemoryStore({ clock });
		const hookCalls: { provider: string; id: number }[] = [];
		const store: AuthCredentialStore = {
			...inner,
			kind: inner.kind,
			capabilities: inner.capabilities,
			rows: inner.rows,
			cache: inner.cache,
			blocks: inner.blocks,
			changes: inner.changes,
			close: () => inner.close(),
			upstream: {
				async refreshOAuthCredential(provider, id, credential) {
					hookCalls.push({ provider, id });
					return { ...credential, access: "acc-remote", refresh: "__remote__", expires: clock.now() + HOUR };
				},
			},
		};
		const t = await setup({ clock, store, credential: { refresh: "__remote__" } });

		const result = await t.refresher.ensureFresh(t.row);

		expect(hookCalls).toEqual([{ provider: PROVIDER, id: t.row.id }]);
		expect(t.provider.calls).toHaveLength(0);
		expect((result.credential as OAuthCredential).access).toBe("acc-remote");
		expect(t.events.updated).toHaveLength(1);
	});
});

describe("OAuthRefresher merge and persistence", () => {
	it("keeps extension and identity fields the result lacks and falls back to the old refresh token", () => {
		const previous: OAuthCredential = {
			type: "oauth",
			access: "a0",
			refresh: "r0",
			expires: 1,
			email: "dev@example.com",
			projectId: "proj-1",
			orgName: "Acme Org",
		};
		const merged = mergeOAuthRefreshResult(PROVIDER, previous, {
			access: "a1",
			refresh: "",
			expires: 2,
			accountId: "acct-9",
			email: "",
			region: "eu",
		});
		expect(merged).toEqual({
			type: "oauth",
			access: "a1",
			refresh: "r0",
			expires: 2,
			email: "dev@example.com",
			projectId: "proj-1",
			accountId: "acct-9",
			orgName: "Acme Org",
			region: "eu",
		});
		expect(() => mergeOAuthRefreshResult(PROVIDER, previous, { access: "", expires: 2 })).toThrow(OAuthRefreshError);
	});

	it("persists the merged credential (extension fields included) before resolving", async () => {
		const t = await setup({ credential: { email: "dev@example.com", orgName: "Acme Org" } });
		t.provider.state.extra = { region: "eu" };
		const persistedAtResolve: OAuthCredential[] = [];
		const result = await t.refresher.ensureFresh(t.row).then(async (row) => {
			persistedAtResolve.push(await storedCredential(t.store, t.row.id));
			return row;
		});
		expect(persistedAtResolve[0]).toEqual(result.credential);
		expect(result.credential).toMatchObject({
			access: "acc-1",
			refresh: "ref-1",
			email: "dev@example.com",
			orgName: "Acme Org",
			region: "eu",
		});
		expect(result.version).toBe(t.row.version + 1);
	});

	it("a rotation the store cannot take (disk full) is kept, served, never re-sent, and stored once the disk recovers", async () => {
		const clock = testClock();
		const inner = createMemoryStore({ clock });
		let diskFull = true;
		const store: AuthCredentialStore = {
			...inner,
			kind: inner.kind,
			capabilities: inner.capabilities,
			cache: inner.cache,
			blocks: inner.blocks,
			changes: inner.changes,
			leases: inner.leases,
			close: () => inner.close(),
			rows: {
				...inner.rows,
				get: (id) => inner.rows.get(id),
				insert: (provider, credential) => inner.rows.insert(provider, credential),
				compareAndSet: (id, version, credential) =>
					diskFull ? Promise.reject(new Error("disk full")) : inner.rows.compareAndSet(id, version, credential),
			},
		};
		const t = await setup({ clock, store, credential: { refresh: "ref-0" } });
		const served = await t.refresher.ensureFresh(t.row);
		expect(oauth(served).access).toBe("acc-1");
		const sent = () => t.provider.calls.map((call) => call.refresh);
		expect(sent()).toEqual(["ref-0"]);
		// The lease stays held while the rotation is only in memory: peers do not refresh either.
		expect((await inner.leases?.get(t.row.id))?.owner).toBeDefined();
		// Asking again serves the kept rotation; the consumed ref-0 is never presented again.
		expect(oauth(await t.refresher.ensureFresh(t.row)).access).toBe("acc-1");
		expect(oauth(await t.refresher.ensureFresh(t.row, { force: true })).access).toBe("acc-2");
		expect(sent()).toEqual(["ref-0", "ref-1"]);
		diskFull = false;
		await vi.waitFor(async () => expect(oauth((await inner.rows.get(t.row.id))!).access).toBe("acc-2"), {
			timeout: 5_000,
		});
		expect(oauth((await inner.rows.get(t.row.id))!).refresh).toBe("ref-2");
		await vi.waitFor(async () => expect(await inner.leases?.get(t.row.id)).toBeNull());
		t.refresher.close();
	});

	it("a lost CAS adopts the peer's fresh row and never overwrites it", async () => {
		const t = await setup({ credential: { refresh: "ref-0" } });
		const gate = deferred();
		t.provider.state.gate = gate.promise;
		const pending = t.refresher.ensureFresh(t.row);
		await t.provider.state.entered.promise;
		// A peer (lease expired, or a store without leases) rotated to a different grant meanwhile.
		const peer = await t.store.rows.update(t.row.id, {
			type: "oauth",
			access: "acc-peer",
			refresh: "ref-peer",
			expires: t.clock.now() + HOUR,
		});
		gate.resolve();

		const result = await pending;
		expect(result.version).toBe(peer?.version);
		expect(await storedCredential(t.store, t.row.id)).toMatchObject({ access: "acc-peer", refresh: "ref-peer" });
	});

	it("a lost CAS to an unrelated write still lands the rotated refresh token on the newer row", async () => {
		const t = await setup({ credential: { label: "home" } });
		const gate = deferred();
		t.provider.state.gate = gate.promise;
		const pending = t.refresher.ensureFresh(t.row);
		await t.provider.state.entered.promise;
		// Someone edited metadata without touching the grant we are consuming.
		await t.store.rows.update(t.row.id, { ...(t.row.credential as OAuthCredential), label: "work" });
		gate.resolve();

		const result = await pending;
		const stored = await storedCredential(t.store, t.row.id);
		expect(stored).toMatchObject({ access: "acc-1", refresh: "ref-1", label: "work" });
		expect(result.credential).toEqual(stored);
	});

	it("a throwing pool callback does not fail a persisted refresh", async () => {
		const t = await setup({
			refresher: {
				onRowUpdated() {
					throw new Error("listener bug");
				},
			},
		});
		const result = await t.refresher.ensureFresh(t.row);
		expect((result.credential as OAuthCredential).access).toBe("acc-1");
		expect(JSON.stringify(t.lines)).toContain("listener bug");
	});
});

describe("OAuthRefresher definitive failures", () => {
	it("invalid_grant disables the row by CAS, fires exactly one event and names the row without secrets", async () => {
		const t = await setup({ credential: { refresh: "ref-dead", email: "dev@example.com" } });
		t.provider.revoke("ref-dead");
		const callers = Array.from({ length: 5 }, () => t.refresher.ensureFresh(t.row).catch((e: unknown) => e));
		const errors = await Promise.all(callers);

		const error = errors[0];
		expect(OAuthRefreshError.isInstance(error)).toBe(true);
		expect((error as OAuthRefreshError).definitive).toBe(true);
		expect((error as OAuthRefreshError).credentialId).toBe(t.row.id);
		expect((error as Error).message).toContain(`${PROVIDER} credential ${t.row.id}`);
		expect(t.provider.calls).toHaveLength(1);
		expect(t.events.disabled).toHaveLength(1);
		expect(t.events.disabled[0]?.cause).toBe("oauth refresh failed: invalid_grant");
		const stored = await t.store.rows.get(t.row.id);
		expect(stored?.disabledCause).toBe("oauth refresh failed: invalid_grant");
	});

	it("a plain error whose message says invalid_grant is definitive too", async () => {
		const t = await setup();
		t.provider.state.fail = () => new Error('400 {"error":"invalid_grant"}');
		await expect(t.refresher.ensureFresh(t.row)).rejects.toMatchObject({ definitive: true });
		expect(t.events.disabled).toHaveLength(1);
		expect((await t.store.rows.get(t.row.id))?.disabledCause).toMatch(/invalid_grant/);
	});

	it("does not disable when a peer rotated the row meanwhile: adopts the peer's fresh token", async () => {
		const t = await setup();
		const gate = deferred();
		t.provider.state.gate = gate.promise;
		const pending = t.refresher.ensureFresh(t.row);
		await t.provider.state.entered.promise;
		// The peer consumed ref-0 first, so our call will be answered invalid_grant.
		t.provider.revoke("ref-0");
		await t.store.rows.update(t.row.id, {
			type: "oauth",
			access: "acc-peer",
			refresh: "ref-peer",
			expires: t.clock.now() + HOUR,
		});
		gate.resolve();

		const result = await pending;
		expect((result.credential as OAuthCredential).access).toBe("acc-peer");
		expect(t.events.disabled).toHaveLength(0);
		expect((await t.store.rows.get(t.row.id))?.disabledCause).toBeNull();
	});

	it("after a peer rotation to a stale token, retries once with the peer's refresh token", async () => {
		const t = await setup();
		const gate = deferred();
		t.provider.state.gate = gate.promise;
		const pending = t.refresher.ensureFresh(t.row);
		await t.provider.state.entered.promise;
		t.provider.revoke("ref-0");
		t.provider.mint("ref-peer");
		await t.store.rows.update(t.row.id, {
			type: "oauth",
			access: "acc-peer",
			refresh: "ref-peer",
			expires: t.clock.now() - 1,
		});
		gate.resolve();

		const result = await pending;
		expect(t.provider.calls.map((call) => call.refresh)).toEqual(["ref-0", "ref-peer"]);
		expect((result.credential as OAuthCredential).access).toBe("acc-1");
		expect(t.events.disabled).toHaveLength(0);
	});

	it("a disable CAS lost to a concurrent disable fires no event of ours", async () => {
		const t = await setup();
		const gate = deferred();
		t.provider.state.gate = gate.promise;
		t.provider.revoke("ref-0");
		const pending = t.refresher.ensureFresh(t.row).catch((e: unknown) => e);
		await t.provider.state.entered.promise;
		await t.store.rows.disable(t.row.id, "deleted by user");
		gate.resolve();

		const error = await pending;
		expect(AuthpoolError.isInstance(error) && error.code).toBe("NO_CREDENTIAL");
		expect(t.events.disabled).toHaveLength(0);
		expect((await t.store.rows.get(t.row.id))?.disabledCause).toBe("deleted by user");
	});
});

describe("OAuthRefresher transient failures", () => {
	it("never disables, reports a back-off and does not retry the same refresh token before it ends", async () => {
		const t = await setup({ refresher: { transientBackoffMs: 300_000 } });
		t.provider.state.fail = () =>
			new OAuthRefreshError("acme token refresh failed: HTTP 503 (transient)", {
				provider: PROVIDER,
				definitive: false,
				status: 503,
			});

		const first = await t.refresher.ensureFresh(t.row).catch((e: unknown) => e);
		expect(OAuthRefreshError.isInstance(first) && first.definitive).toBe(false);
		expect(t.events.transient).toHaveLength(1);
		expect(t.events.transient[0]?.until).toBe(t.clock.now() + 300_000);
		expect(t.events.disabled).toHaveLength(0);
		expect((await t.store.rows.get(t.row.id))?.disabledCause).toBeNull();

		t.provider.state.fail = undefined;
		t.clock.advance(299_000);
		const second = await t.refresher.ensureFresh(t.row).catch((e: unknown) => e);
		expect(OAuthRefreshError.isInstance(second) && second.definitive).toBe(false);
		expect(t.provider.calls).toHaveLength(1);

		t.clock.advance(1_000);
		const recovered = await t.refresher.ensureFresh(t.row);
		expect(t.provider.calls).toHaveLength(2);
		expect((recovered.credential as OAuthCredential).access).toBe("acc-1");
	});

	it("a network error is transient", async () => {
		const t = await setup();
		t.provider.state.fail = () => new TypeError("fetch failed");
		await expect(t.refresher.ensureFresh(t.row)).rejects.toMatchObject({ definitive: false });
		expect(t.events.transient).toHaveLength(1);
		expect(t.events.disabled).toHaveLength(0);
	});

	it("a new refresh token from a peer lifts the back-off", async () => {
		const t = await setup();
		t.provider.state.fail = () => new Error("upstream 502 bad gateway");
		await t.refresher.ensureFresh(t.row).catch(() => {});
		t.provider.state.fail = undefined;
		t.provider.mint("ref-peer");
		await t.store.rows.update(t.row.id, {
			type: "oauth",
			access: "acc-peer",
			refresh: "ref-peer",
			expires: t.clock.now() - 1,
		});

		const result = await t.refresher.ensureFresh(t.row);
		expect(t.provider.calls.map((call) => call.refresh)).toEqual(["ref-0", "ref-peer"]);
		expect((result.credential as OAuthCredential).access).toBe("acc-1");
	});

	it("a hanging token endpoint: the caller stops waiting (typed, transient) but the request is not abandoned", async () => {
		const t = await setup({ refresher: { timeoutMs: 30 } });
		t.provider.state.gate = new Promise(() => {});

		const error = await t.refresher.ensureFresh(t.row).catch((e: unknown) => e);

		expect(OAuthRefreshError.isInstance(error) && error.definitive).toBe(false);
		expect((error as Error).message).toMatch(/in flight/);
		expect(t.provider.calls[0]?.signal.aborted).toBe(false);
		expect(t.refresher.inFlight).toBe(1);
		expect((await t.store.rows.get(t.row.id))?.disabledCause).toBeNull();
		// A second caller joins the same request instead of sending the token again.
		await t.refresher.ensureFresh(t.row).catch(() => undefined);
		expect(t.provider.calls).toHaveLength(1);
	});

	it("an answer that arrives after the caller's timeout is persisted, not thrown away", async () => {
		const t = await setup({ refresher: { timeoutMs: 30 } });
		const gate = deferred();
		t.provider.state.gate = gate.promise;
		await expect(t.refresher.ensureFresh(t.row)).rejects.toMatchObject({ definitive: false });
		gate.resolve();
		await vi.waitFor(async () => expect(oauth((await t.store.rows.get(t.row.id))!).refresh).toBe("ref-1"));
		expect(t.events.disabled).toHaveLength(0);
		expect(oauth(await t.refresher.ensureFresh((await t.store.rows.get(t.row.id))!)).access).toBe("acc-1");
		expect(t.provider.calls).toHaveLength(1);
	});

	it("past the hard cap the request is aborted and its unknown outcome recorded; a later refusal says so", async () => {
		const t = await setup({ refresher: { timeoutMs: 20, hardCapMs: 60 } });
		t.provider.state.gate = new Promise(() => {});
		await expect(t.refresher.ensureFresh(t.row)).rejects.toMatchObject({ definitive: false });
		await vi.waitFor(() => expect(t.provider.calls[0]?.signal.aborted).toBe(true));
		await vi.waitFor(() => expect(t.refresher.inFlight).toBe(0));
		expect(await t.store.cache.get(`authpool:refresh-outcome-unknown:${t.row.id}`)).not.toBeNull();
		// The provider did rotate: ref-0 is now refused.
		t.provider.state.gate = undefined;
		t.provider.state.fail = () =>
			new OAuthRefreshError("acme token refresh failed: HTTP 400 (invalid_grant)", {
				provider: PROVIDER,
				definitive: true,
				status: 400,
				errorCode: "invalid_grant",
			});
		t.clock.advance(400_000);
		await expect(t.refresher.ensureFresh(t.row)).rejects.toMatchObject({ definitive: true });
		expect(t.events.disabled[0]?.cause).toMatch(/lost in flight/);
	});

	it("close() waits for a token request already sent, so an answer arriving during shutdown is stored", async () => {
		const t = await setup({ refresher: { timeoutMs: 30 } });
		const gate = deferred();
		t.provider.state.gate = gate.promise;
		await expect(t.refresher.ensureFresh(t.row)).rejects.toMatchObject({ definitive: false });
		let closed = false;
		const closing = t.refresher.close().then(() => {
			closed = true;
		});
		await new Promise((resolve) => setTimeout(resolve, 20));
		expect(closed).toBe(false);
		gate.resolve();
		await closing;
		expect(oauth((await t.store.rows.get(t.row.id))!).refresh).toBe("ref-1");
		expect(t.provider.calls).toHaveLength(1);
		expect(t.events.disabled).toHaveLength(0);
	});

	it("close() gives up on an unanswered request after drainTimeoutMs: aborted, outcome recorded, nothing disabled", async () => {
		const t = await setup({ refresher: { timeoutMs: 20 } });
		t.provider.state.gate = new Promise(() => {});
		await expect(t.refresher.ensureFresh(t.row)).rejects.toMatchObject({ definitive: false });
		await t.refresher.close({ drainTimeoutMs: 30 });
		expect(t.provider.calls[0]?.signal.aborted).toBe(true);
		expect(t.refresher.inFlight).toBe(0);
		expect(await t.store.cache.get(`authpool:refresh-outcome-unknown:${t.row.id}`)).not.toBeNull();
		expect((await t.store.rows.get(t.row.id))?.disabledCause).toBeNull();
	});

	it("a closing refresher starts no new token request", async () => {
		const t = await setup();
		const closing = t.refresher.close();
		await expect(t.refresher.ensureFresh(t.row)).rejects.toMatchObject({ code: "ABORTED" });
		await closing;
		expect(t.provider.calls).toHaveLength(0);
	});

	it("a transient failure while the access token is still valid keeps serving it, without a block", async () => {
		const t = await setup({ credential: { expires: testClock().now() + 30_000 } });
		t.provider.state.fail = () =>
			new OAuthRefreshError("acme token refresh failed: HTTP 503", {
				provider: PROVIDER,
				definitive: false,
				status: 503,
			});
		const served = await t.refresher.ensureFresh(t.row);
		expect(oauth(served).access).toBe("acc-0");
		expect(t.events.transient).toHaveLength(0);
	});

	it("a sentinel refresh token is never sent to the provider without an upstream hook, and nothing is disabled", async () => {
		const t = await setup({ credential: { refresh: "__remote__" } });
		const error = await t.refresher.ensureFresh(t.row).catch((e: unknown) => e);
		expect(AuthpoolError.isInstance(error) && error.code).toBe("OAUTH_NOT_SUPPORTED");
		expect(t.provider.calls).toHaveLength(0);
		expect((await t.store.rows.get(t.row.id))?.disabledCause).toBeNull();
	});
});

describe("OAuthRefresher caller aborts and ids", () => {
	it("one caller's abort rejects only that caller; the shared refresh completes and persists", async () => {
		const t = await setup();
		const gate = deferred();
		t.provider.state.gate = gate.promise;
		const controller = new AbortController();

		const aborted = t.refresher.ensureFresh(t.row, { signal: controller.signal }).catch((e: unknown) => e);
		const patient = t.refresher.ensureFresh(t.row);
		await t.provider.state.entered.promise;
		controller.abort();
		const abortError = await aborted;
		expect(AuthpoolError.isInstance(abortError) && abortError.code).toBe("ABORTED");
		expect(t.provider.calls[0]?.signal.aborted).toBe(false);

		gate.resolve();
		const result = await patient;
		expect((result.credential as OAuthCredential).access).toBe("acc-1");
		expect(await storedCredential(t.store, t.row.id)).toMatchObject({ access: "acc-1" });
		expect(t.provider.calls).toHaveLength(1);
	});

	it("an already aborted caller gets ABORTED and starts no refresh", async () => {
		const t = await setup();
		const error = await t.refresher.ensureFresh(t.row, { signal: AbortSignal.abort() }).catch((e: unknown) => e);
		expect(AuthpoolError.isInstance(error) && error.code).toBe("ABORTED");
		expect(t.refresher.inFlight).toBe(0);
		expect(t.provider.calls).toHaveLength(0);
	});

	it("a refresh of row B while row A is disabled mid-flight lands on B by id", async () => {
		const t = await setup({ credential: { email: "a@example.com" } });
		const rowB = await t.store.rows.insert(PROVIDER, {
			type: "oauth",
			access: "acc-b",
			refresh: "ref-0",
			expires: t.clock.now() - 1,
			email: "b@example.com",
		});
		const gate = deferred();
		t.provider.state.gate = gate.promise;
		const pending = t.refresher.ensureFresh(rowB);
		await t.provider.state.entered.promise;
		await t.store.rows.disable(t.row.id, "deleted by user");
		gate.resolve();

		const result = await pending;
		expect(result.id).toBe(rowB.id);
		expect(await storedCredential(t.store, rowB.id)).toMatchObject({ access: "acc-1", email: "b@example.com" });
		const rowA = await t.store.rows.get(t.row.id);
		expect(rowA?.disabledCause).toBe("deleted by user");
		expect(rowA?.credential).toMatchObject({ access: "acc-0" });
	});
});

describe("OAuthRefresher secrecy", () => {
	it("never puts token bytes in thrown errors or log lines", async () => {
		const access = "secret-access-AAAA";
		const refresh = "secret-refresh-BBBB";
		const t = await setup({ credential: { access, refresh } });
		t.provider.state.fail = () => new Error(`token endpoint echoed refresh_token=${refresh} for ${access}: 503`);

		const transient = await t.refresher.ensureFresh(t.row).catch((e: unknown) => e);
		t.clock.advance(400_000);
		t.provider.state.fail = () => new Error(`invalid_grant for refresh_token=${refresh}`);
		const definitive = await t.refresher.ensureFresh(t.row).catch((e: unknown) => e);

		const surfaced: string[] = [];
		for (const error of [transient, definitive]) {
			let current: unknown = error;
			while (current instanceof Error) {
				surfaced.push(current.message, String(current.stack));
				current = current.cause;
			}
		}
		surfaced.push(JSON.stringify(t.lines));
		surfaced.push(...t.events.disabled.map((event) => event.cause));
		expect(surfaced.length).toBeGreaterThan(4);
		for (const text of surfaced) {
			expect(text).not.toContain(access);
			expect(text).not.toContain(refresh);
		}
		expect((definitive as OAuthRefreshError).definitive).toBe(true);
	});

	it("logs a successful refresh without token bytes", async () => {
		const t = await setup();
		await t.refresher.ensureFresh(t.row);
		const logged = JSON.stringify(t.lines);
		expect(logged).toContain(`"credentialId":${t.row.id}`);
		for (const secret of ["acc-0", "ref-0", "acc-1", "ref-1"]) expect(logged).not.toContain(secret);
	});
});

describe("OAuthRefresher options", () => {
	it("refuses a lease that could expire before the bounded upstream call ends", () => {
		const base = {
			store: createMemoryStore(),
			registry: createProviderRegistry([]),
			fetch,
			clock: { now: () => 0 },
			logger: silentLogger,
			env: {},
			owner: "me",
			onRowUpdated() {},
			onRowDisabled() {},
			onTransientFailure() {},
		};
		expect(() => new OAuthRefresher({ ...base, timeoutMs: 10_000, leaseTtlMs: 10_000 })).toThrow(
			/leaseTtlMs \(10000\) must be greater than timeoutMs \(10000\)/,
		);
		expect(() => new OAuthRefresher({ ...base, timeoutMs: 1_000, leaseTtlMs: 2_000 })).not.toThrow();
	});
});
