import { DISABLED_BY_USER, REPLACED_BY_NEWER } from "@authpool/core";
import { describe, expect } from "vitest";
import { anonymousLogin, apiKey, oauthLogin } from "./fixtures";
import { itWhen, resolveCapabilities, useStoreHarness } from "./harness";
import type { StoreConformanceOptions } from "./options";

/** Identity: upsert in place vs insert, tombstone purge, replaceProvider semantics. */
export function describeIdentity(options: StoreConformanceOptions): void {
	describe("identity upsert and replace", async () => {
		const capabilities = await resolveCapabilities(options);
		const harness = useStoreHarness(options);
		const test = itWhen(capabilities);
		const twoInstances = itWhen(capabilities, "sharedAcrossInstances");

		test("upsertByIdentity replaces an active row of the same identity in place", async () => {
			const { store, clock } = await harness.open();
			const first = await store.rows.upsertByIdentity("anthropic", oauthLogin("a@example.com", 1));
			expect(first.inserted).toBe(true);
			clock.advance(1_000);
			const second = await store.rows.upsertByIdentity("anthropic", oauthLogin("A@Example.com", 2));
			expect(second.inserted).toBe(false);
			expect(second.row).toMatchObject({
				id: first.row.id,
				version: first.row.version + 1,
				credential: oauthLogin("A@Example.com", 2),
				createdAt: first.row.createdAt,
				updatedAt: clock.now(),
			});
			expect(await store.rows.listActive("anthropic")).toEqual([second.row]);
		});

		test("upsertByIdentity inserts for a new identity, another provider, or a credential with no identity", async () => {
			const { store } = await harness.open();
			const a = await store.rows.upsertByIdentity("anthropic", oauthLogin("a@example.com"));
			const b = await store.rows.upsertByIdentity("anthropic", oauthLogin("b@example.com"));
			const elsewhere = await store.rows.upsertByIdentity("openai-codex", oauthLogin("a@example.com"));
			const anonymous1 = await store.rows.upsertByIdentity("custom", anonymousLogin(1));
			const anonymous2 = await store.rows.upsertByIdentity("custom", anonymousLogin(2));
			for (const result of [a, b, elsewhere, anonymous1, anonymous2]) expect(result.inserted).toBe(true);
			expect(anonymous1.row.identityKey).toBeNull();
			const ids = new Set([a, b, elsewhere, anonymous1, anonymous2].map((result) => result.row.id));
			expect(ids.size).toBe(5);
			expect(await store.rows.listActive()).toHaveLength(5);
		});

		test("api keys are identified by the key: the same key upserts in place", async () => {
			const { store } = await harness.open();
			const first = await store.rows.upsertByIdentity("openai", apiKey("sk-same"));
			const again = await store.rows.upsertByIdentity("openai", apiKey("sk-same"));
			const other = await store.rows.upsertByIdentity("openai", apiKey("sk-other"));
			expect(again).toMatchObject({ inserted: false, row: { id: first.row.id } });
			expect(other.inserted).toBe(true);
		});

		test("upsertByIdentity of a disabled identity inserts a new row and purges that identity's superseded tombstones", async () => {
			const { store } = await harness.open();
			const old = await store.rows.insert("anthropic", oauthLogin("a@example.com", 1));
			const unrelated = await store.rows.insert("anthropic", oauthLogin("b@example.com", 1));
			await store.rows.disable(old.id, DISABLED_BY_USER);
			await store.rows.disable(unrelated.id, DISABLED_BY_USER);
			const fresh = await store.rows.upsertByIdentity("anthropic", oauthLogin("a@example.com", 2));
			expect(fresh.inserted).toBe(true);
			expect(fresh.row.id).not.toBe(old.id);
			expect(await store.rows.get(old.id)).toBeNull();
			expect((await store.rows.listDisabled("anthropic")).map((row) => row.id)).toEqual([unrelated.id]);
			expect((await store.rows.listActive("anthropic")).map((row) => row.id)).toEqual([fresh.row.id]);
		});

		test("replaceProvider keeps ids of matching identities, disables the rest, inserts the new ones", async () => {
			const { store, clock } = await harness.open();
			const a = await store.rows.insert("anthropic", oauthLogin("a@example.com", 1));
			const b = await store.rows.insert("anthropic", oauthLogin("b@example.com", 1));
			const other = await store.rows.insert("openai", apiKey("sk-other"));
			clock.advance(2_000);
			const active = await store.rows.replaceProvider("anthropic", [
				oauthLogin("c@example.com", 1),
				oauthLogin("a@example.com", 2),
			]);
			expect(active).toEqual(await store.rows.listActive("anthropic"));
			expect(active.map((row) => row.credential)).toEqual(
				expect.arrayContaining([oauthLogin("a@example.com", 2), oauthLogin("c@example.com", 1)]),
			);
			expect(active).toHaveLength(2);
			const kept = active.find((row) => row.id === a.id);
			expect(kept).toMatchObject({ version: 2, credential: oauthLogin("a@example.com", 2), updatedAt: clock.now() });
			const inserted = active.find((row) => row.id !== a.id)!;
			expect(inserted.id).toBeGreaterThan(other.id);
			expect(await store.rows.listDisabled()).toEqual([
				expect.objectContaining({ id: b.id, disabledCause: REPLACED_BY_NEWER, disabledAt: clock.now() }),
			]);
			expect(await store.rows.get(other.id)).toEqual(other);
		});

		test("an automatic disable's tombstone survives a re-login of the same identity", async () => {
			const { store } = await harness.open();
			const old = await store.rows.insert("anthropic", oauthLogin("a@example.com", 1));
			await store.rows.disable(old.id, "invalid_grant");
			const fresh = await store.rows.upsertByIdentity("anthropic", oauthLogin("a@example.com", 2));
			expect(fresh.inserted).toBe(true);
			expect(await store.rows.get(old.id)).toMatchObject({ disabledCause: "invalid_grant" });
			await store.rows.replaceProvider("anthropic", [oauthLogin("a@example.com", 3)]);
			expect((await store.rows.listDisabled("anthropic")).map((row) => row.id)).toEqual([old.id]);
		});

		test("replaceProvider purges earlier superseded tombstones of the identities it makes active", async () => {
			const { store } = await harness.open();
			const a = await store.rows.insert("anthropic", oauthLogin("a@example.com", 1));
			const b = await store.rows.insert("anthropic", oauthLogin("b@example.com", 1));
			await store.rows.disable(a.id, REPLACED_BY_NEWER);
			await store.rows.disable(b.id, DISABLED_BY_USER);
			const active = await store.rows.replaceProvider("anthropic", [oauthLogin("a@example.com", 2)]);
			expect(active).toHaveLength(1);
			expect(active[0]!.id).not.toBe(a.id);
			expect(await store.rows.get(a.id)).toBeNull();
			expect((await store.rows.listDisabled("anthropic")).map((row) => row.id)).toEqual([b.id]);
		});

		test("replaceProvider with no credentials disables every active row of the provider", async () => {
			const { store } = await harness.open();
			await store.rows.insert("anthropic", oauthLogin("a@example.com"));
			await store.rows.insert("anthropic", oauthLogin("b@example.com"));
			const kept = await store.rows.insert("openai", apiKey("sk-other"));
			expect(await store.rows.replaceProvider("anthropic", [])).toEqual([]);
			expect(await store.rows.listActive()).toEqual([kept]);
			expect(await store.rows.listDisabled("anthropic")).toHaveLength(2);
		});

		twoInstances("two instances: an upsert on one replaces the row the other inserted", async () => {
			const { a, b } = await harness.openPair();
			const first = await a.rows.upsertByIdentity("anthropic", oauthLogin("a@example.com", 1));
			const second = await b.rows.upsertByIdentity("anthropic", oauthLogin("a@example.com", 2));
			expect(second).toMatchObject({ inserted: false, row: { id: first.row.id, version: 2 } });
			expect(await a.rows.listActive()).toEqual([second.row]);
		});
	});
}
