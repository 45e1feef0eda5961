/**
 * The lease fast path: a contended acquire is refused by Redis without a database round trip, and a
 * mirror that went stale (a crashed reserver, a lost release) only delays the next holder: Redis never
 * grants a lease, the wrapped store does.
 */
import { type AuthCredentialStore, createMemoryStore, createMemoryStoreBackend } from "@authpool/core";
import { createTestClock } from "@authpool/store-conformance";
import { dropPrefix, randomPrefix, testRedisUrl } from "@authpool/test-services";
import { Redis } from "ioredis";
import { afterAll, afterEach, describe, expect, it } from "vitest";
import { type RedisCachedStore, withRedisCache } from "./index";

const url = testRedisUrl();
const TTL = 10_000;

/** A memory store whose lease calls are counted. */
function countingStore(clock: { now(): number }, backend = createMemoryStoreBackend()) {
	const store = createMemoryStore({ clock, backend });
	const calls = { acquire: 0, get: 0 };
	const leases = store.leases!;
	const counted: AuthCredentialStore = {
		...store,
		close: () => store.close(),
		leases: {
			...leases,
			acquire: (...args) => {
				calls.acquire++;
				return leases.acquire(...args);
			},
			get: (...args) => {
				calls.get++;
				return leases.get(...args);
			},
		},
	};
	return { store: counted, calls, backend };
}

describe("lease fast path", () => {
	const opened: RedisCachedStore[] = [];
	const prefixes: string[] = [];
	const admin = new Redis(url);

	afterEach(async () => {
		for (const store of opened.splice(0)) await store.close();
		for (const prefix of prefixes.splice(0)) await dropPrefix(url, prefix);
	});

	afterAll(() => {
		admin.disconnect();
	});

	function wrap(store: AuthCredentialStore, prefix: string, clock: { now(): number }): RedisCachedStore {
		const wrapped = withRedisCache(store, { url }, { prefix, clock });
		opened.push(wrapped);
		return wrapped;
	}

	it("while a lease is held, contenders are refused by Redis: the wrapped store is not asked", async () => {
		const clock = createTestClock();
		const prefix = randomPrefix("fast");
		prefixes.push(prefix);
		const a = countingStore(clock);
		const b = countingStore(clock, a.backend);
		const holder = wrap(a.store, prefix, clock);
		const contender = wrap(b.store, prefix, clock);
		const row = await holder.rows.insert("fleet", { type: "api_key", key: "test-key-1" });
		const held = await holder.leases!.acquire(row.id, "holder", TTL);
		expect(held.acquired).toBe(true);
		for (let i = 0; i < 50; i++) {
			expect(await contender.leases!.acquire(row.id, `contender-${i % 5}`, TTL)).toEqual({
				acquired: false,
				lease: held.lease,
			});
			expect(await contender.leases!.get(row.id)).toEqual(held.lease);
		}
		expect(b.calls).toEqual({ acquire: 0, get: 0 });
	});

	it("a reservation left by a crashed process lapses by the clock; the durable store then grants", async () => {
		const clock = createTestClock();
		const prefix = randomPrefix("crash");
		prefixes.push(prefix);
		const { store } = countingStore(clock);
		const wrapped = wrap(store, prefix, clock);
		const row = await wrapped.rows.insert("fleet", { type: "api_key", key: "test-key-1" });
		// What a process killed between its Redis reservation and the durable acquire leaves behind.
		await admin.hset(`${prefix}l:${row.id}`, {
			credentialId: String(row.id),
			owner: "crashed",
			expiresAt: String(clock.now() + TTL),
			ttlMs: String(TTL),
			beat: "-7",
			token: "7",
			pending: "1",
		});
		const refused = await wrapped.leases!.acquire(row.id, "next", TTL);
		expect(refused).toMatchObject({ acquired: false, lease: { owner: "crashed", beat: -7 } });
		// A waiter that watched it unchanged for a whole TTL names it: granted by the durable store.
		const takeover = await wrapped.leases!.acquire(row.id, "next", TTL, { replace: { owner: "crashed", beat: -7 } });
		expect(takeover).toMatchObject({ acquired: true, lease: { owner: "next" } });
		expect(await store.leases!.get(row.id)).toEqual(takeover.lease);
		expect(await wrapped.leases!.get(row.id)).toEqual(takeover.lease);
	});

	it("a mirror naming a holder the durable store does not have never grants a second holder", async () => {
		const clock = createTestClock();
		const prefix = randomPrefix("stale");
		prefixes.push(prefix);
		const { store } = countingStore(clock);
		const wrapped = wrap(store, prefix, clock);
		const row = await wrapped.rows.insert("fleet", { type: "api_key", key: "test-key-1" });
		// The durable holder took its lease without Redis (the mirror says nothing).
		const durableHolder = await store.leases!.acquire(row.id, "durable-holder", TTL);
		expect(durableHolder.acquired).toBe(true);
		const refused = await wrapped.leases!.acquire(row.id, "newcomer", TTL);
		expect(refused).toEqual({ acquired: false, lease: durableHolder.lease });
		// The refusal repaired the mirror: later contenders see the real holder without the database.
		expect(await wrapped.leases!.get(row.id)).toEqual(durableHolder.lease);
		clock.advance(TTL + 1);
		const afterLapse = await wrapped.leases!.acquire(row.id, "newcomer", TTL);
		expect(afterLapse).toMatchObject({ acquired: true, lease: { owner: "newcomer" } });
		expect(await store.leases!.renew(row.id, "durable-holder", TTL)).toBe(false);
	});
});
