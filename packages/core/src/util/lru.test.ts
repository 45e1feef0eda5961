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
