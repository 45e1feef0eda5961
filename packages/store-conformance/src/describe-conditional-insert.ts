import { DISABLED_BY_USER } from "@authpool/core";
import { describe, expect } from "vitest";
import { apiKey, oauthLogin } from "./fixtures";
import { itWhen, itWhenOffered, resolveCapabilities, resolveOptionalMethods, useStoreHarness } from "./harness";
import type { StoreConformanceOptions } from "./options";

/** The optional conditional insert: seed a provider only while it has no active row. */
export function describeConditionalInsert(options: StoreConformanceOptions): void {
	describe("conditional insert (optional insertIfProviderAbsent)", async () => {
		const harness = useStoreHarness(options);
		const offered = await resolveOptionalMethods(options);
		const test = itWhenOffered(offered, "rows.insertIfProviderAbsent");
		const shared = itWhen(await resolveCapabilities(options), "sharedAcrossInstances");
		const twoInstances = offered.has("rows.insertIfProviderAbsent") ? shared : test;

		test("inserts while the provider has no active row, then returns null; tombstones and other providers do not count", async () => {
			const { store, clock } = await harness.open();
			const elsewhere = await store.rows.insert("openai", apiKey("sk-elsewhere"));
			const gone = await store.rows.insert("zai", apiKey("sk-gone"));
			await store.rows.disable(gone.id, DISABLED_BY_USER);

			const row = await store.rows.insertIfProviderAbsent!("zai", apiKey("sk-first"));
			expect(row).toMatchObject({
				provider: "zai",
				credential: apiKey("sk-first"),
				disabledCause: null,
				createdAt: clock.now(),
			});
			expect(await store.rows.get(row!.id)).toEqual(row);
			expect(await store.rows.insertIfProviderAbsent!("zai", apiKey("sk-second"))).toBeNull();
			expect(await store.rows.insertIfProviderAbsent!("zai", oauthLogin("a@example.com"))).toBeNull();
			expect(await store.rows.listActive("zai")).toEqual([row]);
			expect(await store.rows.listActive("openai")).toEqual([elsewhere]);

			// Once the provider's last row is disabled, the next seed inserts again.
			await store.rows.disable(row!.id, DISABLED_BY_USER);
			const again = await store.rows.insertIfProviderAbsent!("zai", apiKey("sk-third"));
			expect(again?.credential).toEqual(apiKey("sk-third"));
			expect(again!.id).not.toBe(row!.id);
		});

		test("bad input is a typed error and writes nothing", async () => {
			const { store } = await harness.open();
			await expect(store.rows.insertIfProviderAbsent!("", apiKey("sk-x"))).rejects.toMatchObject({
				code: "INVALID_INPUT",
			});
			await expect(
				store.rows.insertIfProviderAbsent!("zai", { type: "api_key", key: 7 } as never),
			).rejects.toMatchObject({ code: "INVALID_INPUT" });
			expect(await store.rows.listActive()).toEqual([]);
		});

		test("concurrent conditional inserts on one instance leave exactly one row", async () => {
			const { store } = await harness.open();
			const results = await Promise.all(
				Array.from({ length: 8 }, (_, index) => store.rows.insertIfProviderAbsent!("zai", apiKey(`sk-${index}`))),
			);
			const inserted = results.filter((row) => row !== null);
			expect(inserted).toHaveLength(1);
			expect(await store.rows.listActive("zai")).toEqual(inserted);
		});

		twoInstances("two instances racing: exactly one inserts, and both see that row", async () => {
			const { a, b } = await harness.openPair();
			// Warm both instances (a pooled store opens its connections now), so the inserts really overlap.
			await Promise.all([a, b].flatMap((store) => Array.from({ length: 10 }, () => store.rows.listActive("zai"))));
			const results = await Promise.all(
				Array.from({ length: 40 }, (_, index) =>
					(index % 2 === 0 ? a : b).rows.insertIfProviderAbsent!("zai", apiKey(`sk-${index}`)),
				),
			);
			const inserted = results.filter((row) => row !== null);
			expect(inserted).toHaveLength(1);
			expect(await a.rows.listActive("zai")).toEqual(inserted);
			expect(await b.rows.listActive("zai")).toEqual(inserted);
		});
	});
}
