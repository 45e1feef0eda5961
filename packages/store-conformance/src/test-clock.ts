import type { Clock } from "@authpool/core";

/** A clock the suite moves by hand; stores under test must read all expiries from it. */
export interface TestClock extends Clock {
	now(): number;
	/** Move forward (or back, with a negative value) by `ms`. */
	advance(ms: number): void;
	/** Jump to an absolute epoch ms. */
	set(ms: number): void;
}

/** Epoch ms every conformance test starts at (2023-11-14): far from 0 so "expired" never means negative. */
export const CONFORMANCE_START_MS = 1_700_000_000_000;

/**
 * Create a manually driven clock.
 * @example
 * const clock = createTestClock();
 * clock.advance(60_000);
 */
export function createTestClock(start: number = CONFORMANCE_START_MS): TestClock {
	let current = start;
	return {
		now: () => current,
		advance(ms: number) {
			current += ms;
		},
		set(ms: number) {
			current = ms;
		},
	};
}
