import type { AuthCredentialSnapshotEntry } from "@authpool/core";
import { describe, expect, it } from "vitest";
import { type RefresherSchedule, rotatesInMs } from "./snapshot-view";

const NOW = 1_000_000;
const entry = (expires: number): AuthCredentialSnapshotEntry => ({
	id: 1,
	provider: "acme",
	credential: { type: "oauth", access: "test-access", refresh: "__remote__", expires },
	identityKey: null,
	blocks: [],
});
const schedule: RefresherSchedule = { enabled: true, intervalMs: 30_000, skewMs: 300_000, nextSweepAt: NOW + 10_000 };

describe("rotatesInMs", () => {
	it("is 0 when already due, else the first sweep at or after expires − skew", () => {
		expect(rotatesInMs(entry(NOW + 300_000), schedule, NOW)).toBe(0);
		expect(rotatesInMs(entry(NOW + 100_000), schedule, NOW)).toBe(0);
		// Due in 5 s: the next sweep (in 10 s) takes it.
		expect(rotatesInMs(entry(NOW + 305_000), schedule, NOW)).toBe(10_000);
		// Due in 45 s: sweeps at 10 s, 40 s, 70 s → 70 s.
		expect(rotatesInMs(entry(NOW + 345_000), schedule, NOW)).toBe(70_000);
		// Exactly on a sweep.
		expect(rotatesInMs(entry(NOW + 340_000), schedule, NOW)).toBe(40_000);
	});

	it("is null without a refresher, for API keys and for non-finite expiry", () => {
		expect(rotatesInMs(entry(NOW + 400_000), { ...schedule, enabled: false }, NOW)).toBeNull();
		expect(rotatesInMs({ ...entry(0), credential: { type: "api_key", key: "test-key-1" } }, schedule, NOW)).toBeNull();
		expect(rotatesInMs(entry(Number.POSITIVE_INFINITY), schedule, NOW)).toBeNull();
	});
});
