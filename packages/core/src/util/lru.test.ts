import { describe, expect, it } from "vitest";
import { LruMap } from "./lru";

describe("LruMap", () => {
	it("evicts the least recently used entry past its bound", () => {
		const lru = new LruMap<string, number>(2);
		lru.set("a", 1).set("b", 2);
		expect(lru.get("a")).toBe(1);
		lru.set("c", 3);
		expect(lru.has("b")).toBe(false);
		expect(lru.get("a")).toBe(1);
		expect(lru.get("c")).toBe(3);
		expect(lru.size).toBe(2);
	});
	it("rejects a non-positive bound", () => {
		expect(() => new LruMap(0)).toThrow(RangeError);
	});
});

describe("LruMap eviction", () => {
	it("keeps entries read since the last sweep over ones never read again, at any size", () => {
		for (const max of [3, 100, 10_000]) {
			const lru = new LruMap<number, number>(max);
			for (let i = 0; i < max; i++) lru.set(i, i);
			// The first half is read again; then as many new entries arrive as the second half holds.
			for (let i = 0; i < max / 2; i++) lru.get(i);
			const arriving = max - Math.ceil(max / 2);
			for (let i = 0; i < arriving; i++) lru.set(max + i, max + i);
			expect(lru.size).toBe(max);
			for (let i = 0; i < max / 2; i++) expect(lru.has(i), `read entry ${i} of ${max}`).toBe(true);
			for (let i = Math.ceil(max / 2); i < max; i++) expect(lru.has(i), `unread entry ${i} of ${max}`).toBe(false);
		}
	});

	it("replacing a value keeps one entry; delete and clear work with the sweep in progress", () => {
		const lru = new LruMap<string, number | null>(2);
		lru.set("a", 1).set("a", null);
		expect(lru.size).toBe(1);
		expect(lru.get("a")).toBeNull();
		expect(lru.peek("missing")).toBeUndefined();
		lru.set("b", 2).set("c", 3); // sweeps: a was replaced (marked), so b goes
		expect([...lru.keys()].sort()).toEqual(["a", "c"]);
		expect(lru.delete("a")).toBe(true);
		lru.set("d", 4).set("e", 5);
		expect(lru.size).toBe(2);
		lru.clear();
		lru.set("f", 6).set("g", 7).set("h", 8);
		expect([...lru.entries()]).toEqual([
			["g", 7],
			["h", 8],
		]);
	});
});
