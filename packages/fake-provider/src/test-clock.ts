/** A settable clock for tests (kept in src so tests share it; not exported from the package). */
export interface TestClock {
	now(): number;
	advance(ms: number): void;
	set(ms: number): void;
}

/** A clock that only moves when told to. */
export function testClock(start = Date.parse("2026-06-30T10:00:00.000Z")): TestClock {
	let current = start;
	return {
		now: () => current,
		advance: (ms) => {
			current += ms;
		},
		set: (ms) => {
			current = ms;
		},
	};
}
