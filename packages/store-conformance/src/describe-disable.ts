import { DISABLED_BY_USER } from "@authpool/core";
import { describe, expect } from "vitest";
import { apiKey, oauthLogin } from "./fixtures";
import { itWhen, resolveCapabilities, useStoreHarness } from "./harness";
import type { StoreConformanceOptions } from "./options";

/** Soft-disable: tombstones with cause and time, per row and per provider. */
export function describeDisable(options: StoreConformanceOptions): void {
	describe("soft-disable and tombstones", async () => {
		const capabilities = await resolveCapabilities(options);
		const harness = useStoreHarness(options);
		const test = itWhen(capabilities);

		test("disable turns an active row into a tombstone with cause, disabledAt and a new version", async () => {
			const { store, clock } = await harness.open();
			const row = await store.rows.insert("anthropic", oauthLogin("a@example.com"));
			clock.advance(3_000);
			expect(await store.rows.disable(row.id, DISABLED_BY_USER)).toBe(true);
			expect(await store.rows.listActive()).toEqual([]);
			const tombstone = {
				...row,
				disabledCause: DISABLED_BY_USER,
				disabledAt: clock.now(),
				updatedAt: clock.now(),
				version: 2,
			};
			expect(await store.rows.listDisabled()).toEqual([tombstone]);
			expect(await store.rows.get(row.id)).toEqual(tombstone);
		});

		test("disable of a disabled or missing row returns false and keeps the first cause", async () => {
			const { store, clock } = await harness.open();
			const row = await store.rows.insert("openai", apiKey("sk-one"));
			await store.rows.disable(row.id, "first cause");
			const tombstone = await store.rows.get(row.id);
			clock.advance(1_000);
			expect(await store.rows.disable(row.id, "second cause")).toBe(false);
			expect(await store.rows.disable(row.id + 1000, "nothing")).toBe(false);
			expect(await store.rows.get(row.id)).toEqual(tombstone);
		});

		test("disableProvider disables only that provider's active rows and counts them", async () => {
			const { store, clock } = await harness.open();
			const a = await store.rows.insert("anthropic", oauthLogin("a@example.com"));
			const b = await store.rows.insert("anthropic", oauthLogin("b@example.com"));
			const earlier = await store.rows.insert("anthropic", oauthLogin("c@example.com"));
			const other = await store.rows.insert("openai", apiKey("sk-one"));
			await store.rows.disable(earlier.id, "earlier cause");
			const earlierTombstone = await store.rows.get(earlier.id);
			clock.advance(1_000);
			expect(await store.rows.disableProvider("anthropic", DISABLED_BY_USER)).toBe(2);
			expect(await store.rows.listActive()).toEqual([other]);
			const disabled = await store.rows.listDisabled("anthropic");
			expect(disabled.map((row) => row.id)).toEqual([a.id, b.id, earlier.id]);
			for (const row of disabled.slice(0, 2)) {
				expect(row).toMatchObject({ disabledCause: DISABLED_BY_USER, disabledAt: clock.now() });
			}
			expect(disabled[2]).toEqual(earlierTombstone);
			expect(await store.rows.disableProvider("anthropic", DISABLED_BY_USER)).toBe(0);
		});

		test("listDisabled filters by provider in ascending id order", async () => {
			const { store } = await harness.open();
			const a = await store.rows.insert("anthropic", oauthLogin("a@example.com"));
			const k = await store.rows.insert("openai", apiKey("sk-one"));
			const b = await store.rows.insert("anthropic", oauthLogin("b@example.com"));
			await store.rows.disable(b.id, "x");
			await store.rows.disable(k.id, "y");
			await store.rows.disable(a.id, "z");
			expect((await store.rows.listDisabled()).map((row) => row.id)).toEqual([a.id, k.id, b.id]);
			expect((await store.rows.listDisabled("anthropic")).map((row) => [row.id, row.disabledCause])).toEqual([
				[a.id, "z"],
				[b.id, "x"],
			]);
		});

		test("purgeDisabled hard-deletes matching tombstones only (retention, provider, identity, causes)", async () => {
			const { store, clock } = await harness.open();
			if (!store.rows.purgeDisabled) return;
			const old = await store.rows.insert("anthropic", oauthLogin("a@example.com"));
			const user = await store.rows.insert("anthropic", oauthLogin("b@example.com"));
			const other = await store.rows.insert("openai", apiKey("sk-one"));
			const active = await store.rows.insert("anthropic", oauthLogin("c@example.com"));
			await store.rows.disable(old.id, "invalid_grant");
			await store.blocks.upsert({
				credentialId: old.id,
				providerKey: "anthropic:oauth",
				scope: "",
				blockedUntil: clock.now() + 60_000,
			});
			clock.advance(10_000);
			await store.rows.disable(user.id, DISABLED_BY_USER);
			await store.rows.disable(other.id, "invalid_grant");
			// Retention: only tombstones disabled before the cut.
			const before = await store.changes.revision();
			expect(await store.rows.purgeDisabled({ disabledBefore: clock.now() - 5_000 })).toBe(1);
			expect(await store.changes.revision()).not.toBe(before);
			expect(await store.rows.get(old.id)).toBeNull();
			expect(await store.blocks.list({ credentialId: old.id })).toEqual([]);
			// Cause and provider filters; active rows are never touched.
			expect(await store.rows.purgeDisabled({ provider: "anthropic", exceptCauses: [DISABLED_BY_USER] })).toBe(0);
			expect(await store.rows.purgeDisabled({ provider: "anthropic", causes: [DISABLED_BY_USER] })).toBe(1);
			expect(await store.rows.purgeDisabled({ provider: "anthropic" })).toBe(0);
			expect((await store.rows.listDisabled()).map((row) => row.id)).toEqual([other.id]);
			expect(await store.rows.purgeDisabled({ provider: "openai", exceptIds: [other.id] })).toBe(0);
			expect(await store.rows.purgeDisabled({})).toBe(1);
			expect((await store.rows.listActive()).map((row) => row.id)).toEqual([active.id]);
		});
	});
}
