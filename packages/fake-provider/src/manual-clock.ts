/** A clock for tests that only moves when told to (pass it to the fake, the store and AuthStorage alike). */
export interface ManualClock {
	now(): number;
	advance(ms: number): void;
	set(ms: number): void;
}

/** A clock that only moves when told to. */
export function createManualClock(start = Date.parse("2026-06-30T10:00:00.000Z")): ManualClock {
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
