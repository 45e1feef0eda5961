import type { AuthCredentialStore, StoreCapabilities } from "@authpool/core";
import type { TestClock } from "./test-clock";

/** What the suite hands to `create`. */
export interface StoreConformanceContext {
	/** The store MUST use this clock for every expiry (cache, blocks, leases) and timestamp. */
	clock: TestClock;
	/**
	 * The value `createShared()` returned for this test (e.g. a temp file path or a shared backend).
	 * Both stores of a two-instance case get the same value; `undefined` without `createShared`.
	 */
	shared?: unknown;
}

/** How the suite opens and disposes of the store under test. */
export interface StoreConformanceOptions {
	/** Open a store. Called once per test (twice, with the same `shared`, for two-instance cases). */
	create(context: StoreConformanceContext): Promise<AuthCredentialStore>;
	/** Make fresh backing data for one test (a temp database path, a backend object, a schema name...). */
	createShared?(): Promise<unknown>;
	/** Dispose of one test's backing data after its stores were closed (receives `undefined` without `createShared`). */
	cleanup?(shared: unknown): Promise<void>;
	/** Override what `store.capabilities` declares (e.g. to switch a slow capability off in one run). */
	capabilities?: Partial<StoreCapabilities>;
}
