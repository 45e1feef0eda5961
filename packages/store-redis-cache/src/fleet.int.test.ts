/**
 * Three real OS processes, each an `AuthStorage` on Postgres + Redis, against the fake provider's
 * rotating token endpoint: one refresh for 1,000 concurrent calls, peers' writes seen within a
 * round trip, and a SIGKILLed lease holder taken over after the lease TTL.
 */

import { testRedisUrl } from "@authpool/test-services";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KEY_PROVIDER, OAUTH_PROVIDER } from "../test/fleet-plugin";
import { type Fleet, percentile, startFleet, waitUntil } from "../test/fleet-setup";
import type { FleetWorker } from "../test/spawn-fleet";

const LEASE_TTL_MS = 2_000;
const ROUNDS = 20;

interface Burst {
	keys: string[];
	noKey: number;
	errors: Record<string, number>;
}

describe("a fleet of three processes on Postgres + Redis", () => {
	let fleet: Fleet;
	let a: FleetWorker;
	let b: FleetWorker;
	let c: FleetWorker;

	beforeAll(async () => {
		fleet = await startFleet(testRedisUrl(), { leaseTtlMs: LEASE_TTL_MS, refreshTimeoutMs: 1_500 });
		a = fleet.spawn("instance-a");
		b = fleet.spawn("instance-b");
		c = fleet.spawn("instance-c");
		await Promise.all([a.ready, b.ready, c.ready]);
	}, 60_000);

	afterAll(async () => {
		await fleet?.close();
	});

	it("1,000 concurrent calls over 3 processes on an expired rotating row: exactly one upstream refresh", async () => {
		const account = fleet.fake.addAccount(OAUTH_PROVIDER, { expiresAt: Date.now() - 1_000 });
		const row = await fleet.store.rows.insert(OAUTH_PROVIDER, account.credential);
		await Promise.all(
			[a, b, c].map((worker) =>
				worker.send({ type: "watch-rows", provider: OAUTH_PROVIDER, count: 1, timeoutMs: 10_000 }),
			),
		);
		const bursts = await Promise.all([
			a.send<Burst>({ type: "burst", n: 334 }),
			b.send<Burst>({ type: "burst", n: 333 }),
			c.send<Burst>({ type: "burst", n: 333 }),
		]);
		for (const burst of bursts) {
			expect(burst.errors).toEqual({});
			expect(burst.noKey).toBe(0);
			expect(burst.keys).toEqual([account.accessToken]);
		}
		expect(fleet.fake.refreshCount(account.id)).toBe(1);
		expect(fleet.fake.requests.filter((request) => request.endpoint === "token")).toHaveLength(1);
		const stored = await fleet.store.rows.get(row.id);
		expect(stored?.version).toBe(2);
		expect(stored?.credential).toMatchObject({ access: account.accessToken, refresh: account.refreshToken });
		// The next test wants this provider to itself: retire the row.
		await fleet.store.rows.disable(row.id, "test done");
	}, 60_000);

	it("a key added on A is served by C, a block set on A is honoured by B and C, a disable on B reaches A", async () => {
		const added: number[] = [];
		const blocked: number[] = [];
		const disabled: number[] = [];
		for (let round = 0; round < ROUNDS; round++) {
			const key = `test-key-${round}`;
			// Added on A, served by C.
			const seenOnC = c.send<{ seenAt: number }>({ type: "watch", until: key, timeoutMs: 10_000 });
			const write = await a.send<{ writtenAt: number }>({ type: "set-keys", keys: [key] });
			added.push(Math.max(0, (await seenOnC).seenAt - write.writtenAt));
			await b.send({ type: "watch", until: key, timeoutMs: 10_000 });

			// Two keys; the one A's session is pinned to is blocked on A: B and C stop serving it.
			const spare = `test-key-${round}-spare`;
			await a.send({ type: "set-keys", keys: [key, spare] });
			await Promise.all(
				[a, b, c].map((worker) =>
					worker.send({ type: "watch-rows", provider: KEY_PROVIDER, count: 2, timeoutMs: 10_000 }),
				),
			);
			const pinned = await a.send<{ key: string; writtenAt: number }>({ type: "block", session: `s-${round}` });
			const seen = await Promise.all(
				[b, c].map((worker) =>
					worker.send<{ seenAt: number; servedBlocked: number }>({
						type: "watch-blocked",
						key: pinned.key,
						calls: 10,
						timeoutMs: 10_000,
					}),
				),
			);
			for (const view of seen) {
				expect(view.servedBlocked).toBe(0);
				blocked.push(Math.max(0, view.seenAt - pinned.writtenAt));
			}

			// A fresh key (a new row, unblocked), then disabled on B: A stops serving it.
			const fresh = `test-key-${round}-fresh`;
			await a.send({ type: "set-keys", keys: [fresh] });
			await Promise.all([a, b].map((worker) => worker.send({ type: "watch", until: fresh, timeoutMs: 10_000 })));
			const goneOnA = a.send<{ seenAt: number }>({ type: "watch", until: null, timeoutMs: 10_000 });
			const disable = await b.send<{ done: boolean; writtenAt: number }>({ type: "disable", key: fresh });
			expect(disable.done).toBe(true);
			disabled.push(Math.max(0, (await goneOnA).seenAt - disable.writtenAt));
		}
		const all = [...added, ...blocked, ...disabled];
		const figures = {
			addP50: percentile(added, 50),
			addP99: percentile(added, 99),
			blockP50: percentile(blocked, 50),
			blockP99: percentile(blocked, 99),
			disableP50: percentile(disabled, 50),
			disableP99: percentile(disabled, 99),
			allP99: percentile(all, 99),
		};
		console.log(`fleet propagation (ms, write returned → seen on a peer): ${JSON.stringify(figures)}`);
		// The target is 100 ms; asserted loosely (shared, noisy machine), the real figure is printed.
		expect(figures.allP99).toBeLessThan(1_000);
		// Nothing served from a stale view at the end: the last key is disabled everywhere.
		const active = await fleet.store.rows.listActive(KEY_PROVIDER);
		expect(active).toEqual([]);
	}, 90_000);

	it("a lease holder SIGKILLed mid-refresh: another process takes over after the TTL and refreshes once", async () => {
		const account = fleet.fake.addAccount(OAUTH_PROVIDER, { expiresAt: Date.now() - 1_000 });
		const row = await fleet.store.rows.insert(OAUTH_PROVIDER, account.credential);
		const tokenRequests = () => fleet.fake.requests.filter((request) => request.endpoint === "token").length;
		const before = tokenRequests();
		// The first token request never gets an answer (and never rotates): a slow provider.
		fleet.fake.failNext(OAUTH_PROVIDER, "token", { hang: true });
		const first = [a, b, c].map((worker) => worker.send<Burst>({ type: "burst", n: 10 }).catch(() => undefined));
		let holder = "";
		await waitUntil("a lease holder with its request in flight", async () => {
			const lease = await fleet.store.leases!.get(row.id);
			if (lease) holder = lease.owner;
			return lease !== null && tokenRequests() > before;
		});
		// Lease owners are the default `<host>:<pid>:<uuid>`: the holder is the worker with that pid.
		const victim = [a, b, c].find((worker) => holder.split(":").at(-2) === String(worker.child.pid))!;
		expect(victim, `holder ${holder}`).toBeDefined();
		const killedAt = performance.now();
		await victim.kill();
		const survivors = [a, b, c].filter((worker) => worker !== victim);
		await Promise.all(first);
		let tookOverAfterMs = 0;
		await waitUntil(
			"the survivors serving the refreshed token",
			async () => {
				const bursts = await Promise.all(survivors.map((worker) => worker.send<Burst>({ type: "burst", n: 5 })));
				const done = bursts.every((burst) => burst.keys.length === 1 && burst.keys[0] === account.accessToken);
				if (done) tookOverAfterMs = performance.now() - killedAt;
				return done;
			},
			20_000,
		);
		console.log(
			`fleet takeover: served again ${Math.round(tookOverAfterMs)} ms after the holder was killed (lease TTL ${LEASE_TTL_MS} ms)`,
		);
		expect(fleet.fake.refreshCount(account.id)).toBe(1);
		const answered = fleet.fake.requests.filter(
			(request) => request.endpoint === "token" && request.status !== undefined,
		);
		expect(answered.filter((request) => request.status !== 200)).toEqual([]);
		const stored = await fleet.store.rows.get(row.id);
		expect(stored?.disabledCause).toBeNull();
		expect(stored?.credential).toMatchObject({ access: account.accessToken, refresh: account.refreshToken });
	}, 60_000);
});
