import type { AuthCredentialStore, LeaseStore } from "@authpool/core";
import { describe, expect } from "vitest";
import { seedCredentials } from "./fixtures";
import { itWhen, resolveCapabilities, useStoreHarness } from "./harness";
import type { StoreConformanceOptions } from "./options";

const TTL = 10_000;

function leasesOf(store: AuthCredentialStore): LeaseStore {
	expect(store.leases, "a store declaring the leases capability must expose store.leases").toBeDefined();
	return store.leases!;
}

/** Refresh leases: acquire, refusal, heartbeats, fencing on renew/release, takeover after expiry or by naming a stale lease. */
export function describeLeases(options: StoreConformanceOptions): void {
	describe("refresh leases", async () => {
		const capabilities = await resolveCapabilities(options);
		const harness = useStoreHarness(options);
		const test = itWhen(capabilities, "leases");
		const twoInstances = itWhen(capabilities, "leases", "sharedAcrossInstances");

		test("a free lease is acquired with expiresAt = now + ttl; a second owner is refused", async () => {
			const { store, clock } = await harness.open();
			const leases = leasesOf(store);
			const [c1] = await seedCredentials(store, 1);
			const taken = await leases.acquire(c1!, "owner-a", TTL);
			const lease = {
				credentialId: c1!,
				owner: "owner-a",
				expiresAt: clock.now() + TTL,
				ttlMs: TTL,
				beat: taken.lease.beat,
			};
			expect(taken).toEqual({ acquired: true, lease });
			expect(Number.isFinite(lease.beat)).toBe(true);
			expect(await leases.get(c1!)).toEqual(lease);
			expect(await leases.acquire(c1!, "owner-b", TTL)).toEqual({ acquired: false, lease });
			expect(await leases.get(c1!)).toEqual(lease);
		});

		test("the owner re-acquiring extends its lease; leases of other credentials are independent", async () => {
			const { store, clock } = await harness.open();
			const leases = leasesOf(store);
			const [c1, c2] = await seedCredentials(store, 2);
			await leases.acquire(c1!, "owner-a", TTL);
			clock.advance(4_000);
			const first = await leases.get(c1!);
			const again = await leases.acquire(c1!, "owner-a", TTL);
			expect(again).toMatchObject({
				acquired: true,
				lease: { credentialId: c1!, owner: "owner-a", expiresAt: clock.now() + TTL, ttlMs: TTL },
			});
			expect(again.lease.beat).not.toBe(first?.beat);
			expect((await leases.acquire(c2!, "owner-b", TTL)).acquired).toBe(true);
			expect(await leases.get(c2! + 1000)).toBeNull();
		});

		test("only the owner of a live lease renews or releases it", async () => {
			const { store, clock } = await harness.open();
			const leases = leasesOf(store);
			const [c1] = await seedCredentials(store, 1);
			await leases.acquire(c1!, "owner-a", TTL);
			clock.advance(5_000);
			expect(await leases.renew(c1!, "owner-b", TTL)).toBe(false);
			expect(await leases.release(c1!, "owner-b")).toBe(false);
			const before = await leases.get(c1!);
			expect(await leases.renew(c1!, "owner-a", TTL)).toBe(true);
			const renewed = await leases.get(c1!);
			expect(renewed).toMatchObject({ credentialId: c1!, owner: "owner-a", expiresAt: clock.now() + TTL, ttlMs: TTL });
			expect(renewed?.beat).not.toBe(before?.beat);
			expect(await leases.release(c1!, "owner-a")).toBe(true);
			expect(await leases.get(c1!)).toBeNull();
			expect(await leases.release(c1!, "owner-a")).toBe(false);
			expect((await leases.acquire(c1!, "owner-b", TTL)).acquired).toBe(true);
		});

		test("an expired lease is taken over, and the old owner is fenced out", async () => {
			const { store, clock } = await harness.open();
			const leases = leasesOf(store);
			const [c1] = await seedCredentials(store, 1);
			await leases.acquire(c1!, "owner-a", TTL);
			clock.advance(TTL + 1);
			const takeover = await leases.acquire(c1!, "owner-b", TTL);
			expect(takeover).toMatchObject({
				acquired: true,
				lease: { credentialId: c1!, owner: "owner-b", expiresAt: clock.now() + TTL, ttlMs: TTL },
			});
			expect(await leases.renew(c1!, "owner-a", TTL)).toBe(false);
			expect(await leases.release(c1!, "owner-a")).toBe(false);
			expect((await leases.get(c1!))?.owner).toBe("owner-b");
		});

		test("a live lease is taken over only by naming it exactly (owner and beat) as stale", async () => {
			const { store } = await harness.open();
			const leases = leasesOf(store);
			const [c1] = await seedCredentials(store, 1);
			const held = (await leases.acquire(c1!, "owner-a", TTL)).lease;
			expect(
				(await leases.acquire(c1!, "owner-b", TTL, { replace: { owner: "owner-a", beat: held.beat + 1 } })).acquired,
			).toBe(false);
			expect(
				(await leases.acquire(c1!, "owner-b", TTL, { replace: { owner: "owner-c", beat: held.beat } })).acquired,
			).toBe(false);
			// The holder renewed after the waiter looked: the waiter's view is stale, no takeover.
			expect(await leases.renew(c1!, "owner-a", TTL)).toBe(true);
			expect(
				(await leases.acquire(c1!, "owner-b", TTL, { replace: { owner: "owner-a", beat: held.beat } })).acquired,
			).toBe(false);
			const current = (await leases.get(c1!))!;
			const takeover = await leases.acquire(c1!, "owner-b", TTL, {
				replace: { owner: current.owner, beat: current.beat },
			});
			expect(takeover).toMatchObject({ acquired: true, lease: { owner: "owner-b" } });
			expect(await leases.renew(c1!, "owner-a", TTL)).toBe(false);
			expect(await leases.release(c1!, "owner-a")).toBe(false);
		});

		test("a lapsed lease nobody took over is still its owner's to renew or release", async () => {
			const { store, clock } = await harness.open();
			const leases = leasesOf(store);
			const [c1] = await seedCredentials(store, 1);
			await leases.acquire(c1!, "owner-a", TTL);
			clock.advance(TTL + 1);
			expect(await leases.renew(c1!, "owner-a", TTL)).toBe(true);
			expect((await leases.get(c1!))?.owner).toBe("owner-a");
			expect((await leases.acquire(c1!, "owner-b", TTL)).acquired).toBe(false);
			clock.advance(TTL + 1);
			expect(await leases.release(c1!, "owner-a")).toBe(true);
			expect(await leases.get(c1!)).toBeNull();
		});

		test("invalid lease arguments are INVALID_INPUT", async () => {
			const { store } = await harness.open();
			const leases = leasesOf(store);
			const [c1] = await seedCredentials(store, 1);
			await expect(leases.acquire(c1!, "", TTL)).rejects.toMatchObject({ code: "INVALID_INPUT" });
			await expect(leases.acquire(c1!, "owner-a", -1)).rejects.toMatchObject({ code: "INVALID_INPUT" });
			await expect(
				leases.acquire(c1!, "owner-a", TTL, { replace: { owner: "x", beat: "1" as unknown as number } }),
			).rejects.toMatchObject({ code: "INVALID_INPUT" });
		});

		test("concurrent acquires by different owners: exactly one wins", async () => {
			const { store } = await harness.open();
			const leases = leasesOf(store);
			const [c1] = await seedCredentials(store, 1);
			const results = await Promise.all(
				Array.from({ length: 10 }, (_, index) => leases.acquire(c1!, `owner-${index}`, TTL)),
			);
			const winners = results.filter((result) => result.acquired);
			expect(winners).toHaveLength(1);
			for (const result of results) expect(result.lease.owner).toBe(winners[0]!.lease.owner);
		});

		twoInstances("two instances: one holds the lease, the other is refused until it names it as stale", async () => {
			const { a, b } = await harness.openPair();
			const [c1] = await seedCredentials(a, 1);
			expect((await leasesOf(a).acquire(c1!, "process-a", TTL)).acquired).toBe(true);
			const refused = await leasesOf(b).acquire(c1!, "process-b", TTL);
			expect(refused).toMatchObject({ acquired: false, lease: { owner: "process-a" } });
			expect(await leasesOf(b).release(c1!, "process-b")).toBe(false);
			const seen = (await leasesOf(b).get(c1!))!;
			expect(seen.owner).toBe("process-a");
			expect((await leasesOf(b).acquire(c1!, "process-b", TTL, { replace: seen })).acquired).toBe(true);
			expect(await leasesOf(a).renew(c1!, "process-a", TTL)).toBe(false);
			expect((await leasesOf(a).get(c1!))?.owner).toBe("process-b");
		});

		twoInstances("two instances: concurrent acquires from both have exactly one winner", async () => {
			const { a, b } = await harness.openPair();
			const [c1] = await seedCredentials(a, 1);
			const [fromA, fromB] = await Promise.all([
				leasesOf(a).acquire(c1!, "process-a", TTL),
				leasesOf(b).acquire(c1!, "process-b", TTL),
			]);
			expect([fromA.acquired, fromB.acquired].filter(Boolean)).toHaveLength(1);
			expect(fromA.lease.owner).toBe(fromB.lease.owner);
		});
	});
}
