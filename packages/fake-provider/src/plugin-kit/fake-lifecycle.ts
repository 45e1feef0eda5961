/**
 * One fake provider per kit `describe` block: started before its tests, reset between them, closed after.
 */
import { afterAll, beforeAll, beforeEach } from "vitest";
import { startFakeProvider } from "../fake-provider";
import type { FakeProvider, FakeProviderOptions } from "../types";
import type { KitClock } from "./types";

/** The clock the kits use unless given one: a fixed instant, so expiries and windows are exact. */
export const KIT_NOW = Date.parse("2026-06-30T12:00:00Z");

/** A clock frozen at {@link KIT_NOW}. */
export const kitClock: KitClock = { now: () => KIT_NOW };

/**
 * Registers the fake's lifecycle hooks in the current `describe` and returns a getter (the server
 * starts in `beforeAll`, after the getter is handed out).
 */
export function useFakeProvider(clock: KitClock, options: Omit<FakeProviderOptions, "now"> = {}): () => FakeProvider {
	let fake: FakeProvider | undefined;
	beforeAll(async () => {
		fake = await startFakeProvider({ ...options, now: () => clock.now() });
	});
	afterAll(async () => {
		await fake?.close();
	});
	beforeEach(() => {
		fake?.reset();
	});
	return () => {
		if (!fake) throw new Error("fake provider not started: call it inside a test or hook");
		return fake;
	};
}
