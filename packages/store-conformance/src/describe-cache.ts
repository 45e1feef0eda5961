import { describe, expect } from "vitest";
import { itWhen, resolveCapabilities, useStoreHarness } from "./harness";
import type { StoreConformanceOptions } from "./options";

/** Cache: values with an expiry read against the store's clock. */
export function describeCache(options: StoreConformanceOptions): void {
	describe("cache", async () => {
		const capabilities = await resolveCapabilities(options);
		const harness = useStoreHarness(options);
		const test = itWhen(capabilities);
		const twoInstances = itWhen(capabilities, "sharedAcrossInstances");

		test("set then get returns the value; an unknown key is null", async () => {
			const { store, clock } = await harness.open();
			await store.cache.set("pin:session-1", "42", clock.now() + 60_000);
			expect(await store.cache.get("pin:session-1")).toBe("42");
			expect(await store.cache.get("pin:session-2")).toBeNull();
		});

		test("a value expires by the store's clock; includeExpired still returns it", async () => {
			const { store, clock } = await harness.open();
			await store.cache.set("usage:a", '{"x":1}', clock.now() + 1_000);
			clock.advance(999);
			expect(await store.cache.get("usage:a")).toBe('{"x":1}');
			clock.advance(2);
			expect(await store.cache.get("usage:a")).toBeNull();
			expect(await store.cache.get("usage:a", { includeExpired: true })).toBe('{"x":1}');
		});

		test("set overwrites value and expiry; delete removes the key", async () => {
			const { store, clock } = await harness.open();
			await store.cache.set("k", "old", clock.now() + 1_000);
			await store.cache.set("k", "new", clock.now() + 10_000);
			clock.advance(5_000);
			expect(await store.cache.get("k")).toBe("new");
			await store.cache.delete("k");
			expect(await store.cache.get("k", { includeExpired: true })).toBeNull();
			await store.cache.delete("never-set");
		});

		test("cleanExpired removes only expired entries and counts them", async () => {
			const { store, clock } = await harness.open();
			await store.cache.set("short-1", "a", clock.now() + 1_000);
			await store.cache.set("short-2", "b", clock.now() + 2_000);
			await store.cache.set("long", "c", clock.now() + 60_000);
			clock.advance(3_000);
			expect(await store.cache.cleanExpired()).toBe(2);
			expect(await store.cache.get("short-1", { includeExpired: true })).toBeNull();
			expect(await store.cache.get("short-2", { includeExpired: true })).toBeNull();
			expect(await store.cache.get("long")).toBe("c");
			expect(await store.cache.cleanExpired()).toBe(0);
		});

		twoInstances("two instances: a value set on one is read on the other", async () => {
			const { a, b, clock } = await harness.openPair();
			await a.cache.set("pin:s", "7", clock.now() + 60_000);
			expect(await b.cache.get("pin:s")).toBe("7");
			await b.cache.delete("pin:s");
			expect(await a.cache.get("pin:s")).toBeNull();
		});
	});
}
