import type { AuthCredentialStore } from "@authpool/core";
import { describe, expect, vi } from "vitest";
import { apiKey, oauthLogin } from "./fixtures";
import { itWhen, resolveCapabilities, useStoreHarness } from "./harness";
import type { StoreConformanceOptions } from "./options";

/** Push listeners may be asynchronous (LISTEN/NOTIFY, pub/sub): wait a little for them, really. */
const PUSH_WAIT = { timeout: 2_000, interval: 5 };

/** Change feed: the revision moves on every row and block write, across instances too; push listeners. */
export function describeChangeFeed(options: StoreConformanceOptions): void {
	describe("change feed", async () => {
		const capabilities = await resolveCapabilities(options);
		const harness = useStoreHarness(options);
		const test = itWhen(capabilities);
		const twoInstances = itWhen(capabilities, "sharedAcrossInstances");
		const push = itWhen(capabilities, "pushChanges");
		const pushTwoInstances = itWhen(capabilities, "pushChanges", "sharedAcrossInstances");

		/** Run `write` and assert `observer`'s revision moved. */
		async function expectRevisionMoves(observer: AuthCredentialStore, label: string, write: () => Promise<unknown>) {
			const before = await observer.changes.revision();
			await write();
			expect(await observer.changes.revision(), `revision after ${label}`).not.toBe(before);
		}

		test("the revision changes after every kind of row and block write", async () => {
			const { store, clock } = await harness.open();
			let id = 0;
			await expectRevisionMoves(store, "insert", async () => {
				id = (await store.rows.insert("anthropic", oauthLogin("a@example.com"))).id;
			});
			await expectRevisionMoves(store, "update", () => store.rows.update(id, oauthLogin("a@example.com", 2)));
			await expectRevisionMoves(store, "compareAndSet", () =>
				store.rows.compareAndSet(id, 2, oauthLogin("a@example.com", 3)),
			);
			await expectRevisionMoves(store, "upsertByIdentity", () =>
				store.rows.upsertByIdentity("anthropic", oauthLogin("b@example.com")),
			);
			await expectRevisionMoves(store, "replaceProvider", () =>
				store.rows.replaceProvider("anthropic", [oauthLogin("a@example.com", 4)]),
			);
			await expectRevisionMoves(store, "disable", () => store.rows.disable(id, "gone"));
			const keyRow = await store.rows.insert("openai", apiKey("sk-one"));
			await expectRevisionMoves(store, "compareAndDisable", () =>
				store.rows.compareAndDisable(keyRow.id, keyRow.version, "gone"),
			);
			await store.rows.insert("openai", apiKey("sk-two"));
			await expectRevisionMoves(store, "disableProvider", () => store.rows.disableProvider("openai", "logout"));
			await expectRevisionMoves(store, "block upsert", () =>
				store.blocks.upsert({
					credentialId: id,
					providerKey: "anthropic:oauth",
					scope: "",
					blockedUntil: clock.now() + 60_000,
				}),
			);
			await expectRevisionMoves(store, "block extension", () =>
				store.blocks.upsert({
					credentialId: id,
					providerKey: "anthropic:oauth",
					scope: "",
					blockedUntil: clock.now() + 90_000,
				}),
			);
			await expectRevisionMoves(store, "block delete", () => store.blocks.delete(id));
		});

		twoInstances(
			"two instances: a row write on one moves the other's revision and the other lists the row",
			async () => {
				const { a, b } = await harness.openPair();
				let id = 0;
				await expectRevisionMoves(b, "insert on the other instance", async () => {
					id = (await a.rows.insert("anthropic", oauthLogin("a@example.com"))).id;
				});
				expect((await b.rows.listActive()).map((row) => row.id)).toEqual([id]);
				await expectRevisionMoves(a, "disable on the other instance", () => b.rows.disable(id, "gone"));
				expect(await a.rows.listActive()).toEqual([]);
			},
		);

		twoInstances("two instances: a block write on one moves the other's revision", async () => {
			const { a, b, clock } = await harness.openPair();
			const row = await a.rows.insert("anthropic", oauthLogin("a@example.com"));
			await expectRevisionMoves(b, "block on the other instance", () =>
				a.blocks.upsert({
					credentialId: row.id,
					providerKey: "anthropic:oauth",
					scope: "",
					blockedUntil: clock.now() + 60_000,
				}),
			);
			expect((await b.blocks.list()).map((block) => block.credentialId)).toEqual([row.id]);
		});

		push("subscribe: listeners hear writes; an unsubscribed listener does not", async () => {
			const { store } = await harness.open();
			expect(store.changes.subscribe, "a store declaring pushChanges must implement subscribe").toBeDefined();
			let kept = 0;
			let dropped = 0;
			store.changes.subscribe!(() => kept++);
			const unsubscribe = store.changes.subscribe!(() => dropped++);
			await store.rows.insert("openai", apiKey("sk-one"));
			await vi.waitFor(() => expect(kept).toBeGreaterThan(0), PUSH_WAIT);
			await vi.waitFor(() => expect(dropped).toBeGreaterThan(0), PUSH_WAIT);
			unsubscribe();
			const droppedBefore = dropped;
			const keptBefore = kept;
			await store.rows.insert("openai", apiKey("sk-two"));
			await vi.waitFor(() => expect(kept).toBeGreaterThan(keptBefore), PUSH_WAIT);
			expect(dropped).toBe(droppedBefore);
		});

		pushTwoInstances("two instances: a listener on one hears a write on the other", async () => {
			const { a, b } = await harness.openPair();
			let heard = 0;
			b.changes.subscribe!(() => heard++);
			await a.rows.insert("openai", apiKey("sk-one"));
			await vi.waitFor(() => expect(heard).toBeGreaterThan(0), PUSH_WAIT);
		});
	});
}
