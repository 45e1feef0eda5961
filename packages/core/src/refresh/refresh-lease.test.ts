/**
 * Cross-process refresh: several refreshers (as several processes would) on stores sharing one backend,
 * coordinated by the store's refresh lease, against a real local token endpoint over HTTP.
 */
import { spawn } from "node:child_process";
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { hostname } from "node:os";
import { afterEach, describe, expect, it, vi } from "vitest";
import { AuthpoolError, OAuthRefreshError } from "../errors";
import { createProviderRegistry, type OAuthRefreshResult, type ProviderPlugin } from "../plugin";
import { createMemoryStore, createMemoryStoreBackend, type MemoryStoreBackend } from "../store/memory-store";
import type { AuthCredentialStore } from "../store/store";
import type { Logger, OAuthCredential, StoredAuthCredential } from "../types";
import { defaultLeaseOwner } from "./lease-owner";
import { requestOAuthToken, requireTokenFields } from "./oauth-http";
import { OAuthRefresher, type OAuthRefresherOptions } from "./refresh";

const HOUR = 3_600_000;
const PROVIDER = "acme";

function deferred<T = void>() {
	let resolve!: (value: T) => void;
	const promise = new Promise<T>((res) => {
		resolve = res;
	});
	return { promise, resolve };
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

/**
 * A token endpoint on 127.0.0.1 that rotates the refresh token on every use and answers
 * 400 invalid_grant to a reused or revoked one.
 */
async function startTokenServer(initialRefresh: string) {
	const valid = new Set([initialRefresh]);
	const requests: string[] = [];
	let issued = 0;
	const control = {
		/** While set, requests wait for it before being judged. */
		hold: undefined as Promise<void> | undefined,
		received: deferred(),
		status: undefined as number | undefined,
	};
	const handle = async (req: IncomingMessage, res: ServerResponse) => {
		let body = "";
		for await (const chunk of req) body += chunk;
		const refresh = new URLSearchParams(body).get("refresh_token") ?? "";
		requests.push(refresh);
		control.received.resolve();
		if (control.hold) await control.hold;
		res.setHeader("content-type", "application/json");
		if (control.status) {
			res.statusCode = control.status;
			res.end(JSON.stringify({ error: "temporarily_unavailable" }));
			return;
		}
		if (!valid.has(refresh)) {
			res.statusCode = 400;
			res.end(JSON.stringify({ error: "invalid_grant", error_description: "refresh token already used" }));
			return;
		}
		valid.delete(refresh);
		issued += 1;
		const next = `http-ref-${issued}`;
		valid.add(next);
		res.end(JSON.stringify({ access_token: `http-acc-${issued}`, refresh_token: next, expires_in: 3600 }));
	};
	const server: Server = createServer((req, res) => {
		handle(req, res).catch(() => {
			res.statusCode = 500;
			res.end();
		});
	});
	await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
	const { port } = server.address() as AddressInfo;
	return {
		url: `http://127.0.0.1:${port}/token`,
		requests,
		control,
		revoke: (refresh: string) => valid.delete(refresh),
		close: () =>
			new Promise<void>((resolve) => {
				server.closeAllConnections();
				server.close(() => resolve());
			}),
	};
}

function httpPlugin(url: string): ProviderPlugin {
	return {
		id: PROVIDER,
		oauth: {
			rotatesRefreshToken: true,
			async refresh(credential, ctx): Promise<OAuthRefreshResult> {
				const body = await requestOAuthToken(
					{
						provider: PROVIDER,
						url,
						encoding: "form",
						body: { grant_type: "refresh_token", refresh_token: credential.refresh },
					},
					ctx,
				);
				requireTokenFields(PROVIDER, body, ["access_token", "expires_in"]);
				return {
					access: String(body.access_token),
					...(typeof body.refresh_token === "string" ? { refresh: body.refresh_token } : {}),
					expires: ctx.clock.now() + Number(body.expires_in) * 1000,
				};
			},
		},
	};
}

/** An in-memory plugin that counts calls (for lease tests that need no HTTP). */
function countingPlugin(clock: { now(): number }) {
	const calls: string[] = [];
	const state = { gate: undefined as Promise<void> | undefined, entered: deferred() };
	const plugin: ProviderPlugin = {
		id: PROVIDER,
		oauth: {
			rotatesRefreshToken: true,
			async refresh(credential) {
				calls.push(credential.refresh);
				state.entered.resolve();
				if (state.gate) await state.gate;
				return { access: `acc-${calls.length}`, refresh: `ref-${calls.length}`, expires: clock.now() + HOUR };
			},
		},
	};
	return { plugin, calls, state };
}

function recordingLogger() {
	const lines: unknown[] = [];
	const log = (message: string, fields?: Record<string, unknown>) => {
		lines.push([message, fields]);
	};
	const logger: Logger = { debug: log, info: log, warn: log, error: log };
	return { logger, lines };
}

interface Instance {
	store: AuthCredentialStore;
	refresher: OAuthRefresher;
	updated: StoredAuthCredential[];
	disabled: { row: StoredAuthCredential; cause: string }[];
	transient: { until: number }[];
	lines: unknown[];
}

function instance(
	backend: MemoryStoreBackend,
	clock: { now(): number },
	plugin: ProviderPlugin,
	owner: string,
	extra: Partial<OAuthRefresherOptions> = {},
): Instance {
	const store = createMemoryStore({ clock, backend });
	const { logger, lines } = recordingLogger();
	const out: Instance = { store, refresher: undefined as never, updated: [], disabled: [], transient: [], lines };
	out.refresher = new OAuthRefresher({
		store,
		registry: createProviderRegistry([plugin]),
		fetch: (input, init) => fetch(input, init),
		clock,
		logger,
		env: {},
		owner,
		onRowUpdated: (row) => out.updated.push(row),
		onRowDisabled: (row, cause) => out.disabled.push({ row, cause }),
		onTransientFailure: (_row, until) => out.transient.push({ until }),
		...extra,
	});
	return out;
}

function oauth(row: StoredAuthCredential): OAuthCredential {
	if (row.credential.type !== "oauth") throw new Error("expected an oauth row");
	return row.credential;
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
	while (cleanups.length > 0) await cleanups.pop()?.();
});

async function tokenServer(initialRefresh: string) {
	const server = await startTokenServer(initialRefresh);
	cleanups.push(server.close);
	return server;
}

describe("OAuthRefresher across processes (shared store backend)", () => {
	it("4 instances × 250 concurrent callers of one expired row → exactly one HTTP refresh each expiry", async () => {
		const clock = testClock();
		const server = await tokenServer("http-ref-0");
		const backend = createMemoryStoreBackend();
		const plugin = httpPlugin(server.url);
		const instances = ["p1", "p2", "p3", "p4"].map((owner) => instance(backend, clock, plugin, owner));
		const first = instances[0] as Instance;
		let row = await first.store.rows.insert(PROVIDER, {
			type: "oauth",
			access: "http-acc-0",
			refresh: "http-ref-0",
			expires: clock.now() - 1,
		});

		for (let round = 1; round <= 2; round += 1) {
			const view = row;
			const results = await Promise.all(
				instances.flatMap((inst) => Array.from({ length: 250 }, () => inst.refresher.ensureFresh(view))),
			);
			expect(server.requests).toHaveLength(round);
			expect(new Set(results.map((result) => oauth(result).access))).toEqual(new Set([`http-acc-${round}`]));
			const stored = await first.store.rows.get(row.id);
			expect(stored && oauth(stored)).toMatchObject({ access: `http-acc-${round}`, refresh: `http-ref-${round}` });
			row = stored as StoredAuthCredential;
			clock.advance(2 * HOUR);
		}
		for (const inst of instances) {
			expect(inst.disabled).toHaveLength(0);
			// Everyone learned about each new version, whether it refreshed or adopted.
			expect(inst.updated.map((updated) => oauth(updated).access)).toEqual(["http-acc-1", "http-acc-2"]);
		}
		expect(await first.store.leases?.get(row.id)).toBeNull();
	});

	it("waits while a peer holds the lease and adopts what the peer stores, without calling upstream", async () => {
		const clock = testClock();
		const backend = createMemoryStoreBackend();
		const counting = countingPlugin(clock);
		const me = instance(backend, clock, counting.plugin, "me");
		const peerStore = createMemoryStore({ clock, backend });
		const row = await peerStore.rows.insert(PROVIDER, {
			type: "oauth",
			access: "acc-0",
			refresh: "ref-0",
			expires: clock.now() - 1,
		});
		expect((await peerStore.leases?.acquire(row.id, "peer", 15_000))?.acquired).toBe(true);

		const pending = me.refresher.ensureFresh(row);
		// Let the waiter poll at least once while the peer still holds the lease.
		await new Promise((resolve) => setTimeout(resolve, 80));
		expect(counting.calls).toHaveLength(0);
		await peerStore.rows.compareAndSet(row.id, row.version, {
			type: "oauth",
			access: "acc-peer",
			refresh: "ref-peer",
			expires: clock.now() + HOUR,
		});
		await peerStore.leases?.release(row.id, "peer");

		const result = await pending;
		expect(oauth(result).access).toBe("acc-peer");
		expect(counting.calls).toHaveLength(0);
		expect(me.updated).toHaveLength(1);
	});

	it("takes over an orphaned lease once its heartbeat stopped for its whole ttl, whatever the wall clock says", async () => {
		const clock = testClock();
		const backend = createMemoryStoreBackend();
		const counting = countingPlugin(clock);
		const me = instance(backend, clock, counting.plugin, "me");
		const crashedStore = createMemoryStore({ clock, backend });
		const inserted = await crashedStore.rows.insert(PROVIDER, {
			type: "oauth",
			access: "acc-0",
			refresh: "ref-0",
			expires: clock.now() - 3_600_000 - 1,
		});
		await crashedStore.leases?.acquire(inserted.id, "crashed", 400);
		// A wall clock stepped back an hour must not keep a dead holder's lease alive for an hour.
		clock.advance(-3_600_000);
		const row = inserted;

		const started = performance.now();
		const result = await me.refresher.ensureFresh(row);
		expect(performance.now() - started).toBeGreaterThanOrEqual(390);
		expect(counting.calls).toEqual(["ref-0"]);
		expect(oauth(result).access).toBe("acc-1");
		expect(await crashedStore.leases?.get(row.id)).toBeNull();
	});

	it("a holder on this host that still runs but stopped renewing (starved) is waited for up to the hard cap", async () => {
		const clock = testClock();
		const backend = createMemoryStoreBackend();
		const counting = countingPlugin(clock);
		const me = instance(backend, clock, counting.plugin, "me", { leaseTtlMs: 200, timeoutMs: 100, hardCapMs: 600 });
		const starvedStore = createMemoryStore({ clock, backend });
		const row = await starvedStore.rows.insert(PROVIDER, {
			type: "oauth",
			access: "acc-0",
			refresh: "ref-0",
			expires: clock.now() - 1,
		});
		// This very process is the "starved" holder: alive, never renewing.
		await starvedStore.leases?.acquire(row.id, defaultLeaseOwner(), 200);
		const started = performance.now();
		const result = await me.refresher.ensureFresh(row, { force: true }).catch(() => undefined);
		// The caller's bounded wait ends first; no token request was sent meanwhile.
		expect(result === undefined || oauth(result).access === "acc-0").toBe(true);
		// The waiter notices the silence after the ttl (on its next poll, whenever a loaded machine runs it) and
		// keeps waiting instead of taking over: no token request when it says so.
		await vi.waitFor(
			() => expect(me.lines.some((line) => JSON.stringify(line).includes("still runs; waiting"))).toBe(true),
			{ timeout: 3_000, interval: 5 },
		);
		expect(counting.calls).toEqual([]);
		// Past ttl + hard cap even a live holder's request must have ended: the lease is taken over.
		await vi.waitFor(() => expect(counting.calls).toEqual(["ref-0"]), { timeout: 3_000 });
		expect(performance.now() - started).toBeGreaterThanOrEqual(790);
	});

	it("a holder on this host whose process is gone is taken over after the ttl, not after the hard cap", async () => {
		const clock = testClock();
		const backend = createMemoryStoreBackend();
		const counting = countingPlugin(clock);
		const me = instance(backend, clock, counting.plugin, "me", { leaseTtlMs: 200, timeoutMs: 100, hardCapMs: 60_000 });
		const deadStore = createMemoryStore({ clock, backend });
		const row = await deadStore.rows.insert(PROVIDER, {
			type: "oauth",
			access: "acc-0",
			refresh: "ref-0",
			expires: clock.now() - 1,
		});
		const child = spawn(process.execPath, ["-e", ""], { stdio: "ignore" });
		const pid = child.pid!;
		await new Promise((resolve) => child.once("exit", resolve));
		await deadStore.leases?.acquire(row.id, `${hostname()}:${pid}:${randomUUID()}`, 200);
		const started = performance.now();
		await vi.waitFor(
			async () => {
				await me.refresher.ensureFresh(row).catch(() => undefined);
				expect(counting.calls).toEqual(["ref-0"]);
			},
			{ timeout: 3_000 },
		);
		expect(performance.now() - started).toBeLessThan(3_000);
	});

	it("a forward clock step does not let a peer take a live, renewing lease", async () => {
		const clock = testClock();
		const backend = createMemoryStoreBackend();
		const counting = countingPlugin(clock);
		const gate = deferred();
		counting.state.gate = gate.promise;
		const holder = instance(backend, clock, counting.plugin, "holder", { leaseTtlMs: 300, timeoutMs: 250 });
		const peer = instance(backend, clock, counting.plugin, "peer", { leaseTtlMs: 300, timeoutMs: 250 });
		const row = await holder.store.rows.insert(PROVIDER, {
			type: "oauth",
			access: "acc-0",
			refresh: "ref-0",
			expires: clock.now() - 1,
		});
		const first = holder.refresher.ensureFresh(row).catch(() => undefined);
		await vi.waitFor(() => expect(counting.calls).toEqual(["ref-0"]));
		clock.advance(3_600_000);
		const second = peer.refresher.ensureFresh(row).catch(() => undefined);
		// Three lease lifetimes of real time: the holder keeps renewing, so the peer never sends ref-0 again.
		await new Promise((resolve) => setTimeout(resolve, 900));
		expect(counting.calls).toEqual(["ref-0"]);
		gate.resolve();
		await first;
		await second;
		await vi.waitFor(async () => expect(oauth((await holder.store.rows.get(row.id))!).access).toBe("acc-1"));
		expect(counting.calls).toEqual(["ref-0"]);
		expect(holder.disabled).toHaveLength(0);
		expect(peer.disabled).toHaveLength(0);
	});

	it("holds and renews the lease while the upstream call runs, and releases it afterwards", async () => {
		const clock = testClock();
		const backend = createMemoryStoreBackend();
		const counting = countingPlugin(clock);
		const gate = deferred();
		counting.state.gate = gate.promise;
		const inner = createMemoryStore({ clock, backend });
		const innerLeases = inner.leases as NonNullable<AuthCredentialStore["leases"]>;
		let renewals = 0;
		const store: AuthCredentialStore = {
			kind: inner.kind,
			capabilities: inner.capabilities,
			rows: inner.rows,
			cache: inner.cache,
			blocks: inner.blocks,
			changes: inner.changes,
			close: () => inner.close(),
			leases: {
				acquire: (id, owner, ttl) => innerLeases.acquire(id, owner, ttl),
				release: (id, owner) => innerLeases.release(id, owner),
				get: (id) => innerLeases.get(id),
				renew: (id, owner, ttl) => {
					renewals += 1;
					return innerLeases.renew(id, owner, ttl);
				},
			},
		};
		const refresher = new OAuthRefresher({
			store,
			registry: createProviderRegistry([counting.plugin]),
			fetch,
			clock,
			logger: recordingLogger().logger,
			env: {},
			owner: "me",
			// Renewed every ttl/3 = 100 ms; the lease must outlive the bounded upstream call.
			leaseTtlMs: 300,
			timeoutMs: 250,
			onRowUpdated() {},
			onRowDisabled() {},
			onTransientFailure() {},
		});
		const row = await inner.rows.insert(PROVIDER, {
			type: "oauth",
			access: "acc-0",
			refresh: "ref-0",
			expires: clock.now() - 1,
		});

		const pending = refresher.ensureFresh(row);
		await counting.state.entered.promise;
		await new Promise((resolve) => setTimeout(resolve, 150));
		expect(renewals).toBeGreaterThan(0);
		expect((await innerLeases.get(row.id))?.owner).toBe("me");
		expect((await innerLeases.acquire(row.id, "peer", 30)).acquired).toBe(false);
		gate.resolve();

		await pending;
		expect(await innerLeases.get(row.id)).toBeNull();
	});

	it("a slow token answer is waited for under the lease: a peer with a stepped clock never re-sends the token", async () => {
		const clock = testClock();
		const server = await tokenServer("http-ref-0");
		const backend = createMemoryStoreBackend();
		const plugin = httpPlugin(server.url);
		const slow = instance(backend, clock, plugin, "slow", { leaseTtlMs: 300, timeoutMs: 100 });
		const fast = instance(backend, clock, plugin, "fast", { leaseTtlMs: 300, timeoutMs: 100 });
		const row = await slow.store.rows.insert(PROVIDER, {
			type: "oauth",
			access: "http-acc-0",
			refresh: "http-ref-0",
			expires: clock.now() - 1,
		});
		const hold = deferred();
		server.control.hold = hold.promise;

		// The caller stops waiting after its timeout (typed, transient), but the request runs on.
		const slowCaller = slow.refresher.ensureFresh(row);
		await server.control.received.promise;
		server.control.hold = undefined;
		await expect(slowCaller).rejects.toMatchObject({ definitive: false });
		clock.advance(20_000);
		const fastPending = fast.refresher.ensureFresh(row).catch((error: unknown) => error);
		await new Promise((resolve) => setTimeout(resolve, 700));
		expect(server.requests).toEqual(["http-ref-0"]);
		hold.resolve();

		await vi.waitFor(async () => expect(oauth((await slow.store.rows.get(row.id))!).access).toBe("http-acc-1"));
		await fastPending;
		const adopted = await fast.refresher.ensureFresh((await fast.store.rows.get(row.id))!);
		expect(oauth(adopted).access).toBe("http-acc-1");
		expect(server.requests).toEqual(["http-ref-0"]);
		expect(slow.disabled).toHaveLength(0);
		expect(fast.disabled).toHaveLength(0);
	});
});

describe("OAuthRefresher over HTTP failures", () => {
	it("a revoked refresh token (400 invalid_grant) disables the row once, without leaking tokens", async () => {
		const clock = testClock();
		const server = await tokenServer("http-ref-other");
		const backend = createMemoryStoreBackend();
		const inst = instance(backend, clock, httpPlugin(server.url), "me");
		const access = "http-access-secret-XYZ";
		const refresh = "http-refresh-secret-XYZ";
		const row = await inst.store.rows.insert(PROVIDER, {
			type: "oauth",
			access,
			refresh,
			expires: clock.now() - 1,
			email: "dev@example.com",
		});

		const errors = await Promise.all(
			Array.from({ length: 10 }, () => inst.refresher.ensureFresh(row).catch((e: unknown) => e)),
		);

		expect(server.requests).toHaveLength(1);
		expect(inst.disabled).toEqual([
			{ row: expect.objectContaining({ id: row.id }), cause: "oauth refresh failed: invalid_grant" },
		]);
		const error = errors[0] as OAuthRefreshError;
		expect(OAuthRefreshError.isInstance(error)).toBe(true);
		expect(error.definitive).toBe(true);
		expect(error.status).toBe(400);
		expect(error.message).toContain(`acme credential ${row.id} (dev@example.com)`);
		const surfaced = `${error.message} ${String((error.cause as Error | undefined)?.message)} ${JSON.stringify(inst.lines)}`;
		expect(surfaced).not.toContain(access);
		expect(surfaced).not.toContain(refresh);
		expect((await inst.store.rows.get(row.id))?.disabledCause).toBe("oauth refresh failed: invalid_grant");
	});

	it("a 503 from the token endpoint is transient: nothing disabled, no immediate retry", async () => {
		const clock = testClock();
		const server = await tokenServer("http-ref-0");
		server.control.status = 503;
		const inst = instance(createMemoryStoreBackend(), clock, httpPlugin(server.url), "me");
		const row = await inst.store.rows.insert(PROVIDER, {
			type: "oauth",
			access: "http-acc-0",
			refresh: "http-ref-0",
			expires: clock.now() - 1,
		});

		await expect(inst.refresher.ensureFresh(row)).rejects.toMatchObject({ definitive: false, status: 503 });
		await expect(inst.refresher.ensureFresh(row)).rejects.toMatchObject({ definitive: false });
		expect(server.requests).toHaveLength(1);
		expect(inst.transient).toEqual([{ until: clock.now() + 300_000 }]);
		expect(inst.disabled).toHaveLength(0);
		expect((await inst.store.rows.get(row.id))?.disabledCause).toBeNull();
		expect(await inst.store.leases?.get(row.id)).toBeNull();
	});

	it("a row disabled while waiting for a peer's lease ends the wait with NO_CREDENTIAL", async () => {
		const clock = testClock();
		const backend = createMemoryStoreBackend();
		const counting = countingPlugin(clock);
		const gone: number[] = [];
		const me = instance(backend, clock, counting.plugin, "me", { onRowGone: (id) => gone.push(id) });
		const peerStore = createMemoryStore({ clock, backend });
		const row = await peerStore.rows.insert(PROVIDER, {
			type: "oauth",
			access: "acc-0",
			refresh: "ref-0",
			expires: clock.now() - 1,
		});
		await peerStore.leases?.acquire(row.id, "peer", 15_000);

		const pending = me.refresher.ensureFresh(row).catch((e: unknown) => e);
		await new Promise((resolve) => setTimeout(resolve, 30));
		await peerStore.rows.disable(row.id, "oauth refresh failed: invalid_grant");

		const error = await pending;
		expect(AuthpoolError.isInstance(error) && error.code).toBe("NO_CREDENTIAL");
		expect(gone).toEqual([row.id]);
		expect(counting.calls).toHaveLength(0);
		expect(me.disabled).toHaveLength(0);
	});
});
