import { DISABLED_BY_USER } from "@authpool/core";
import { describe, expect } from "vitest";
import { oauthLogin } from "./fixtures";
import { itWhenOffered, resolveOptionalMethods, useStoreHarness } from "./harness";
import type { StoreConformanceOptions } from "./options";

/** The optional tombstone rewrite (key rotation re-seals disabled rows with it). */
export function describeTombstoneRewrite(options: StoreConformanceOptions): void {
	describe("tombstone rewrite (optional compareAndSetDisabled)", async () => {
		const harness = useStoreHarness(options);
		const test = itWhenOffered(await resolveOptionalMethods(options), "rows.compareAndSetDisabled");

		test("rewrites a tombstone at its version: it stays disabled with its cause, version bumps", async () => {
			const { store, clock } = await harness.open();
			const row = await store.rows.insert("anthropic", oauthLogin("a@example.com"));
			// A deliberate removal: its tombstone is superseded (purged) when the identity is added again.
			await store.rows.disable(row.id, DISABLED_BY_USER);
			const tombstone = (await store.rows.get(row.id))!;
			clock.advance(1_000);
			const rewritten = oauthLogin("a@example.com", 2);
			const result = await store.rows.compareAndSetDisabled!(row.id, tombstone.version, rewritten);
			const expected = {
				...tombstone,
				credential: rewritten,
				version: tombstone.version + 1,
				updatedAt: clock.now(),
			};
			expect(result).toEqual({ ok: true, row: expected });
			expect(await store.rows.get(row.id)).toEqual(expected);
			expect(await store.rows.listActive()).toEqual([]);
			expect(await store.rows.listDisabled()).toEqual([expected]);
			// Still a tombstone of its identity: re-adding the identity purges it.
			await store.rows.upsertByIdentity("anthropic", oauthLogin("a@example.com", 3));
			expect(await store.rows.get(row.id)).toBeNull();
		});

		test("refuses a stale version and an active row, answering what is stored", async () => {
			const { store } = await harness.open();
			const active = await store.rows.insert("anthropic", oauthLogin("a@example.com"));
			const gone = await store.rows.insert("anthropic", oauthLogin("b@example.com"));
			await store.rows.disable(gone.id, "gone");
			const tombstone = (await store.rows.get(gone.id))!;
			const write = store.rows.compareAndSetDisabled!.bind(store.rows);
			expect(await write(gone.id, tombstone.version - 1, oauthLogin("b@example.com", 2))).toEqual({
				ok: false,
				current: tombstone,
			});
			expect(await write(active.id, active.version, oauthLogin("a@example.com", 2))).toEqual({
				ok: false,
				current: active,
			});
			expect(await write(gone.id + 1000, 1, oauthLogin("c@example.com"))).toEqual({ ok: false, current: null });
			expect(await store.rows.get(active.id)).toEqual(active);
			expect(await store.rows.get(gone.id)).toEqual(tombstone);
		});
	});
}
