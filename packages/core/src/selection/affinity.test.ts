import { describe, expect, it } from "vitest";
import { countingStore, manualClock } from "../auth-storage.test-utils";
import { createMemoryStore } from "../store/memory-store";
import type { AuthCredentialStore } from "../store/store";
import { silentLogger } from "../types";
import { SessionAffinity, sessionPinKey } from "./affinity";

describe("SessionAffinity", () => {
	it("writes the store only when a pin changes and reads it only on first sight", async () => {
		const clock = manualClock();
		const counted = countingStore(createMemoryStore({ clock }));
		const affinity = new SessionAffinity({ store: counted.store, clock, logger: silentLogger });
		expect(await affinity.get("acme", "s")).toBeUndefined();
		await affinity.set("acme", "s", { type: "oauth", credentialId: 1 });
		for (let i = 0; i < 10; i += 1) {
			await affinity.set("acme", "s", { type: "oauth", credentialId: 1 });
			expect(await affinity.get("acme", "s")).toEqual({ type: "oauth", credentialId: 1 });
		}
		await affinity.flush();
		expect(counted.counts).toEqual({ "cache.get": 1, "cache.setMany": 1 });
		await affinity.set("acme", "s", { type: "oauth", credentialId: 2 });
		await affinity.flush();
		expect(counted.counts["cache.setMany"]).toBe(2);
	});

	it("a pin persisted by one instance is read by another; drop removes it", async () => {
		const clock = manualClock();
		const store = createMemoryStore({ clock });
		const one = new SessionAffinity({ store, clock, logger: silentLogger });
		one.set("acme", "s", { type: "api_key", credentialId: 9 });
		await one.flush();
		const two = new SessionAffinity({ store, clock, logger: silentLogger });
		expect(await two.get("acme", "s")).toEqual({ type: "api_key", credentialId: 9 });
		two.drop("acme", "s");
		await two.flush();
		expect(await store.cache.get(sessionPinKey("acme", "s"))).toBeNull();
		const three = new SessionAffinity({ store, clock, logger: silentLogger });
		expect(await three.get("acme", "s")).toBeUndefined();
	});

	it("pins expire from the store after 30 days", async () => {
		const clock = manualClock();
		const store = createMemoryStore({ clock });
		const writer = new SessionAffinity({ store, clock, logger: silentLogger });
		writer.set("acme", "s", { type: "oauth", credentialId: 3 });
		await writer.flush();
		clock.advance(31 * 24 * 3_600_000);
		expect(await new SessionAffinity({ store, clock, logger: silentLogger }).get("acme", "s")).toBeUndefined();
	});

	it("memory stays bounded for 1,000,000 distinct session ids", async () => {
		const clock = manualClock();
		const written = { count: 0 };
		// A store whose cache only counts: the bound under test is the in-memory map.
		const store = {
			cache: {
				get: async () => null,
				set: async () => {
					written.count += 1;
				},
				delete: async () => {},
				cleanExpired: async () => 0,
			},
		} as unknown as AuthCredentialStore;
		const affinity = new SessionAffinity({ store, clock, logger: silentLogger, maxSessions: 1000 });
		for (let i = 0; i < 1_000_000; i += 1) {
			affinity.set("acme", `session-${i}`, { type: "oauth", credentialId: i % 7 });
			if (i % 100_000 === 0) {
				expect(affinity.size).toBeLessThanOrEqual(1000);
				// The write-behind queue is bounded as well: a burst flushes in batches.
				await affinity.flush();
				expect(affinity.pendingWrites).toBe(0);
			}
		}
		await affinity.flush();
		expect(affinity.size).toBe(1000);
		expect(written.count).toBe(1_000_000);
		// The most recent sessions are still known in memory; the oldest were evicted.
		expect(affinity.peek("acme", "session-999999")).toEqual({ type: "oauth", credentialId: 999999 % 7 });
		expect(affinity.peek("acme", "session-0")).toBeUndefined();
	});
});
