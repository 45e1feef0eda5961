import { describe, expect, it } from "vitest";
import type { StoredAuthCredential } from "../types";
import type { RankedCandidate } from "./rank";
import { drawForSession, rotate, sessionStartIndex } from "./select";

function candidate(id: number, primaryUsed: number, blocked = false): RankedCandidate {
	const row = { id } as StoredAuthCredential;
	return {
		row,
		report: null,
		blocked,
		planPriority: 0,
		hasPriorityBoost: false,
		secondaryDrainRate: primaryUsed,
		secondaryUsed: primaryUsed,
		primaryDrainRate: primaryUsed,
		primaryUsed,
		order: id,
	};
}

describe("selection helpers", () => {
	it("rotates and hashes sessions into range", () => {
		expect(rotate([1, 2, 3], 1)).toEqual([2, 3, 1]);
		expect(rotate([1, 2, 3], 0)).toEqual([1, 2, 3]);
		for (const id of ["a", "b", "c", "long-session-id-123"]) {
			expect(sessionStartIndex(id, 5)).toBeGreaterThanOrEqual(0);
			expect(sessionStartIndex(id, 5)).toBeLessThan(5);
		}
		expect(sessionStartIndex("x", 1)).toBe(0);
	});

	it("drawForSession spreads sessions over unblocked rows, favouring better buckets, blocked last", () => {
		const ranked = [candidate(1, 0.1), candidate(2, 0.5), candidate(3, 0.9), candidate(4, 0, true)];
		const firsts = new Map<number, number>();
		for (let i = 0; i < 3000; i += 1) {
			const ordered = drawForSession(ranked, `session-${i}`);
			expect(ordered.at(-1)!.row.id).toBe(4);
			expect(ordered).toHaveLength(4);
			const id = ordered[0]!.row.id;
			firsts.set(id, (firsts.get(id) ?? 0) + 1);
		}
		expect(firsts.get(4)).toBeUndefined();
		// Weights 2 : 1.5 : 1 → best row drawn most, worst least, all used.
		expect(firsts.get(1)!).toBeGreaterThan(firsts.get(2)!);
		expect(firsts.get(2)!).toBeGreaterThan(firsts.get(3)!);
		expect(firsts.get(3)!).toBeGreaterThan(0);
	});

	it("drawForSession is deterministic per session", () => {
		const ranked = [candidate(1, 0.2), candidate(2, 0.2), candidate(3, 0.2)];
		expect(drawForSession(ranked, "same")[0]!.row.id).toBe(drawForSession(ranked, "same")[0]!.row.id);
	});
});
