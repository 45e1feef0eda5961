import { describe, expect, it } from "vitest";
import { jitteredBackoffMs } from "./sqlite-busy";

describe("jitteredBackoffMs", () => {
	it("doubles from the base, stays within [ceiling/2, ceiling], and never exceeds the cap", () => {
		expect(jitteredBackoffMs(0, 2, 25, () => 0)).toBe(1);
		expect(jitteredBackoffMs(0, 2, 25, () => 1)).toBe(2);
		expect(jitteredBackoffMs(2, 2, 25, () => 0.5)).toBe(6);
		expect(jitteredBackoffMs(50, 2, 25, () => 1)).toBe(25);
		expect(jitteredBackoffMs(50, 2, 25, () => 0)).toBe(12.5);
	});
});
