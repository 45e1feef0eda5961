import { credentialIdentityKey, type OAuthCredential } from "@authpool/core";
import { describe, expect } from "vitest";
import { apiKey, oauthLogin } from "./fixtures";
import { itWhen, resolveCapabilities, useStoreHarness } from "./harness";
import type { StoreConformanceOptions } from "./options";

/** Rows: insert, list order, get, update, version bumps, compare-and-set, extension fields; two-instance reads and CAS races. */
export function describeRows(options: StoreConformanceOptions): void {
	describe("rows", async () => {
		const capabilities = await resolveCapabilities(options);
		const harness = useStoreHarness(options);
		const test = itWhen(capabilities);
		const twoInstances = itWhen(capabilities, "sharedAcrossInstances");

		test("insert stamps id, version 1, identity key and clock times", async () => {
			const { store, clock } = await harness.open();
			const credential = oauthLogin("ada@example.com");
			const row = await store.rows.insert("anthropic", credential);
			expect(Number.isSafeInteger(row.id)).toBe(true);
			expect(row).toEqual({
				id: row.id,
				provider: "anthropic",
				credential,
				disabledCause: null,
				version: 1,
				identityKey: credentialIdentityKey("anthropic", credential),
				createdAt: clock.now(),
				updatedAt: clock.now(),
				disabledAt: null,
			});
			expect(await store.rows.get(row.id)).toEqual(row);
		});

		test("listActive returns rows in ascending id order, optionally per provider", async () => {
			const { store } = await harness.open();
			const a = await store.rows.insert("anthropic", oauthLogin("a@example.com"));
			const k = await store.rows.insert("openai", apiKey("sk-one"));
			const b = await store.rows.insert("anthropic", oauthLogin("b@example.com"));
			expect(a.id).toBeLessThan(k.id);
			expect(k.id).toBeLessThan(b.id);
			expect((await store.rows.listActive()).map((row) => row.id)).toEqual([a.id, k.id, b.id]);
			expect((await store.rows.listActive("anthropic")).map((row) => row.id)).toEqual([a.id, b.id]);
			expect(await store.rows.listActive("nobody")).toEqual([]);
		});

		test("get returns null for an id that was never used", async () => {
			const { store } = await harness.open();
			const row = await store.rows.insert("openai", apiKey("sk-one"));
			expect(await store.rows.get(row.id + 1000)).toBeNull();
		});

		test("update replaces the credential, bumps the version and updatedAt, keeps id and createdAt", async () => {
			const { store, clock } = await harness.open();
			const row = await store.rows.insert("anthropic", oauthLogin("a@example.com", 1));
			clock.advance(5_000);
			const next = oauthLogin("a@example.com", 2);
			const updated = await store.rows.update(row.id, next);
			expect(updated).toMatchObject({
				id: row.id,
				credential: next,
				version: 2,
				createdAt: row.createdAt,
				updatedAt: clock.now(),
			});
			expect(await store.rows.get(row.id)).toEqual(updated);
			const again = await store.rows.update(row.id, oauthLogin("a@example.com", 3));
			expect(again?.version).toBe(3);
		});

		test("update of a missing or disabled row returns null and changes nothing", async () => {
			const { store } = await harness.open();
			const row = await store.rows.insert("openai", apiKey("sk-one"));
			expect(await store.rows.update(row.id + 1000, apiKey("sk-two"))).toBeNull();
			await store.rows.disable(row.id, "gone");
			const tombstone = await store.rows.get(row.id);
			expect(await store.rows.update(row.id, apiKey("sk-two"))).toBeNull();
			expect(await store.rows.get(row.id)).toEqual(tombstone);
			expect(await store.rows.get(row.id + 1000)).toBeNull();
		});

		test("compareAndSet wins at the current version and loses at a stale one, returning what is stored", async () => {
			const { store } = await harness.open();
			const row = await store.rows.insert("anthropic", oauthLogin("a@example.com", 1));
			const win = await store.rows.compareAndSet(row.id, 1, oauthLogin("a@example.com", 2));
			expect(win.ok).toBe(true);
			if (!win.ok) return;
			expect(win.row).toMatchObject({ id: row.id, version: 2, credential: oauthLogin("a@example.com", 2) });
			const lose = await store.rows.compareAndSet(row.id, 1, oauthLogin("a@example.com", 3));
			expect(lose).toEqual({ ok: false, current: win.row });
			expect(await store.rows.get(row.id)).toEqual(win.row);
		});

		test("compareAndSet loses on a disabled row (current is the tombstone) and on a missing row (current null)", async () => {
			const { store } = await harness.open();
			const row = await store.rows.insert("openai", apiKey("sk-one"));
			expect(await store.rows.compareAndSet(row.id + 1000, 1, apiKey("sk-two"))).toEqual({ ok: false, current: null });
			await store.rows.disable(row.id, "gone");
			const tombstone = await store.rows.get(row.id);
			const lose = await store.rows.compareAndSet(row.id, tombstone!.version, apiKey("sk-two"));
			expect(lose).toEqual({ ok: false, current: tombstone });
		});

		test("compareAndDisable disables at the current version and refuses a stale one", async () => {
			const { store, clock } = await harness.open();
			const row = await store.rows.insert("anthropic", oauthLogin("a@example.com"));
			await store.rows.update(row.id, oauthLogin("a@example.com", 2));
			const stale = await store.rows.compareAndDisable(row.id, 1, "invalid_grant");
			expect(stale.ok).toBe(false);
			expect(stale.ok ? null : stale.current).toMatchObject({ id: row.id, version: 2, disabledCause: null });
			expect((await store.rows.listActive()).map((r) => r.id)).toEqual([row.id]);
			clock.advance(1_000);
			const win = await store.rows.compareAndDisable(row.id, 2, "invalid_grant");
			expect(win.ok).toBe(true);
			expect(win.ok ? win.row : null).toMatchObject({
				id: row.id,
				version: 3,
				disabledCause: "invalid_grant",
				disabledAt: clock.now(),
			});
			expect(await store.rows.listActive()).toEqual([]);
		});

		test("concurrent compareAndSet calls at one version: exactly one wins", async () => {
			const { store } = await harness.open();
			const row = await store.rows.insert("anthropic", oauthLogin("a@example.com", 1));
			const results = await Promise.all(
				Array.from({ length: 10 }, (_, index) =>
					store.rows.compareAndSet(row.id, 1, oauthLogin("a@example.com", index + 2)),
				),
			);
			const winners = results.filter((result) => result.ok);
			expect(winners).toHaveLength(1);
			const stored = await store.rows.get(row.id);
			expect(stored?.version).toBe(2);
			expect(winners[0]!.ok && winners[0]!.row.credential).toEqual(stored?.credential);
		});

		test("unknown OAuth extension fields round-trip through insert, get, list, update and upsert", async () => {
			const { store } = await harness.open();
			const extension = {
				accountId: "acct-1",
				projectId: "proj-1",
				enterpriseUrl: "https://ghe.example.com",
				apiEndpoint: "https://api.example.com",
				tier: "max",
				scopes: ["user:inference", "user:profile"],
				limits: { daily: 3, weekly: null, nested: { ok: true } },
				ratio: 0.25,
			};
			const credential: OAuthCredential = oauthLogin("a@example.com", 1, extension);
			const row = await store.rows.insert("anthropic", credential);
			expect(row.credential).toEqual(credential);
			expect((await store.rows.get(row.id))?.credential).toEqual(credential);
			expect((await store.rows.listActive("anthropic"))[0]?.credential).toEqual(credential);
			const next = oauthLogin("a@example.com", 2, { ...extension, tier: "pro", added: [1, 2] });
			expect((await store.rows.update(row.id, next))?.credential).toEqual(next);
			const upserted = await store.rows.upsertByIdentity("anthropic", oauthLogin("a@example.com", 3, extension));
			expect(upserted.row.credential).toEqual(oauthLogin("a@example.com", 3, extension));
			expect((await store.rows.get(row.id))?.credential).toEqual(oauthLogin("a@example.com", 3, extension));
		});

		test("api key credentials round-trip", async () => {
			const { store } = await harness.open();
			const row = await store.rows.insert("openai", apiKey("sk-test-123"));
			expect((await store.rows.get(row.id))?.credential).toEqual(apiKey("sk-test-123"));
		});

		test("returned rows are copies: mutating one does not change the store", async () => {
			const { store } = await harness.open();
			const row = await store.rows.insert("anthropic", oauthLogin("a@example.com", 1, { meta: { tier: "max" } }));
			(row.credential as OAuthCredential).access = "mutated";
			const listed = (await store.rows.listActive())[0]!;
			((listed.credential as OAuthCredential).meta as { tier: string }).tier = "mutated";
			expect((await store.rows.get(row.id))?.credential).toEqual(
				oauthLogin("a@example.com", 1, { meta: { tier: "max" } }),
			);
		});

		twoInstances("two instances: a row written on one is read and updated on the other", async () => {
			const { a, b } = await harness.openPair();
			const row = await a.rows.insert("anthropic", oauthLogin("a@example.com"));
			expect(await b.rows.get(row.id)).toEqual(row);
			expect(await b.rows.listActive("anthropic")).toEqual([row]);
			const updated = await b.rows.update(row.id, oauthLogin("a@example.com", 2));
			expect(await a.rows.get(row.id)).toEqual(updated);
			const other = await b.rows.insert("anthropic", oauthLogin("b@example.com"));
			expect(other.id).not.toBe(row.id);
			expect((await a.rows.listActive()).map((r) => r.id)).toEqual([row.id, other.id]);
		});

		twoInstances(
			"two instances: a compareAndSet race has exactly one winner and the loser sees its write",
			async () => {
				const { a, b } = await harness.openPair();
				const row = await a.rows.insert("anthropic", oauthLogin("a@example.com", 1));
				const [fromA, fromB] = await Promise.all([
					a.rows.compareAndSet(row.id, 1, oauthLogin("a@example.com", 2)),
					b.rows.compareAndSet(row.id, 1, oauthLogin("a@example.com", 3)),
				]);
				expect([fromA.ok, fromB.ok].filter(Boolean)).toHaveLength(1);
				const winner = fromA.ok ? fromA.row : fromB.ok ? fromB.row : null;
				const loser = fromA.ok ? fromB : fromA;
				expect(loser.ok ? null : loser.current).toEqual(winner);
				expect(await a.rows.get(row.id)).toEqual(winner);
				expect(await b.rows.get(row.id)).toEqual(winner);
				const late = await b.rows.compareAndSet(row.id, 1, oauthLogin("a@example.com", 4));
				expect(late.ok).toBe(false);
			},
		);
	});
}
