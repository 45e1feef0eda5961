import { type AuthCredentialStore, AuthpoolError, type StoreCapabilities } from "@authpool/core";
import { afterEach, expect, it } from "vitest";
import type { StoreConformanceOptions } from "./options";
import { createTestClock, type TestClock } from "./test-clock";

export type CapabilityName = keyof StoreCapabilities;

const probed = new WeakMap<StoreConformanceOptions, Promise<StoreCapabilities>>();

/**
 * The capabilities the suite runs against: what a freshly opened store declares, with the caller's
 * overrides on top. Probed once per options object, at collection time, so skips show in the report.
 */
export function resolveCapabilities(options: StoreConformanceOptions): Promise<StoreCapabilities> {
	let pending = probed.get(options);
	if (!pending) {
		pending = (async () => {
			const shared = options.createShared ? await options.createShared() : undefined;
			const store = await options.create({ clock: createTestClock(), shared });
			const declared = { ...store.capabilities };
			await store.close();
			await options.cleanup?.(shared);
			return { ...declared, ...options.capabilities };
		})();
		probed.set(options, pending);
	}
	return pending;
}

/** Optional methods of the contract a store may leave out (`part.method`). */
export type OptionalMethod =
	| "rows.compareAndSetDisabled"
	| "rows.insertIfProviderAbsent"
	| "rows.purgeDisabled"
	| "ledger.recordClientUsage";

const OPTIONAL_METHODS: readonly OptionalMethod[] = [
	"rows.compareAndSetDisabled",
	"rows.insertIfProviderAbsent",
	"rows.purgeDisabled",
	"ledger.recordClientUsage",
];

const probedMethods = new WeakMap<StoreConformanceOptions, Promise<Set<OptionalMethod>>>();

/** Which optional methods a freshly opened store offers (probed once per options object). */
export function resolveOptionalMethods(options: StoreConformanceOptions): Promise<Set<OptionalMethod>> {
	let pending = probedMethods.get(options);
	if (!pending) {
		pending = (async () => {
			const shared = options.createShared ? await options.createShared() : undefined;
			const store = await options.create({ clock: createTestClock(), shared });
			const offered = new Set(
				OPTIONAL_METHODS.filter((path) => {
					const [part, method] = path.split(".") as [keyof AuthCredentialStore, string];
					const owner = store[part] as unknown as Record<string, unknown> | undefined;
					return typeof owner?.[method] === "function";
				}),
			);
			await store.close();
			await options.cleanup?.(shared);
			return offered;
		})();
		probedMethods.set(options, pending);
	}
	return pending;
}

/** `it`, or a visible skip whose title names the optional method the store does not offer. */
export function itWhenOffered(offered: Set<OptionalMethod>, method: OptionalMethod) {
	const suffix = offered.has(method) ? "" : ` (skipped: store has no ${method})`;
	const run = it.skipIf(!offered.has(method));
	return (title: string, fn: () => Promise<void>) => run(title + suffix, fn);
}

/**
 * `it`, or a visible skip whose title says which capability the store lacks. Never silent: the
 * skipped case still appears in the report with its reason.
 */
export function itWhen(capabilities: StoreCapabilities, ...needed: CapabilityName[]) {
	const lacking = needed.filter((name) => !capabilities[name]);
	const suffix = lacking.length > 0 ? ` (skipped: store lacks ${lacking.join(", ")})` : "";
	const skipped = it.skipIf(lacking.length > 0);
	return (title: string, fn: () => Promise<void>) => skipped(title + suffix, fn);
}

/** Opens stores for a test and closes them (then cleans their backing data) after it. */
export interface StoreHarness {
	open(): Promise<{ store: AuthCredentialStore; clock: TestClock }>;
	/** Two stores on the same backing data, sharing one clock. */
	openPair(): Promise<{ a: AuthCredentialStore; b: AuthCredentialStore; clock: TestClock }>;
}

/** Register per-test open/cleanup for the current `describe`. */
export function useStoreHarness(options: StoreConformanceOptions): StoreHarness {
	const opened: AuthCredentialStore[] = [];
	const shareds: unknown[] = [];

	afterEach(async () => {
		for (const store of opened.splice(0)) {
			// A test may already have closed it; closing twice must not fail the cleanup.
			await store.close().catch(() => undefined);
		}
		for (const shared of shareds.splice(0)) await options.cleanup?.(shared);
	});

	async function newShared(): Promise<unknown> {
		const shared = options.createShared ? await options.createShared() : undefined;
		shareds.push(shared);
		return shared;
	}

	async function create(clock: TestClock, shared: unknown): Promise<AuthCredentialStore> {
		const store = await options.create({ clock, shared });
		opened.push(store);
		return store;
	}

	return {
		async open() {
			const clock = createTestClock();
			const store = await create(clock, await newShared());
			return { store, clock };
		},
		async openPair() {
			const clock = createTestClock();
			const shared = await newShared();
			const a = await create(clock, shared);
			const b = await create(clock, shared);
			return { a, b, clock };
		},
	};
}

/** Await a promise that must reject with an `AuthpoolError` of `code`; returns the error. */
export async function expectAuthpoolError(promise: Promise<unknown>, code: string): Promise<AuthpoolError> {
	const outcome = await promise.then(
		(value) => ({ rejected: false as const, value }),
		(error: unknown) => ({ rejected: true as const, error }),
	);
	expect(outcome.rejected, `expected a rejection with ${code}`).toBe(true);
	const error = outcome.rejected ? outcome.error : undefined;
	expect(AuthpoolError.isInstance(error), `expected an AuthpoolError, got ${String(error)}`).toBe(true);
	expect((error as AuthpoolError).code).toBe(code);
	return error as AuthpoolError;
}
